"""Writes the shell steps of the README's CI recipes (GitHub Actions, GitLab CI, Buildkite) as
scripts for the e2e suite (tests/e2e/engine.sh, c_engine_ci_recipes), with what only the CI system
provides replaced: the release URL by a local one, /usr/local/bin by the case's bin directory, the
example registry and images by the suite's, GitLab's OIDC and apk lines dropped, and
`buildkite-agent` a function that reads its input.

Usage: ci_recipes.py README OUTDIR RELEASE_URL BIN_DIR REGISTRY IMAGE
"""
import os
import re
import sys

import yaml

readme, outdir, release_url, bin_dir, registry, image = sys.argv[1:7]
text = open(readme, encoding="utf-8").read()
section = text.split("\n## CI recipes\n", 1)[1].split("\n## ", 1)[0]
blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
if len(blocks) != 3:
    sys.exit(f"expected 3 yaml recipes in the README's CI recipes, found {len(blocks)}")
github, gitlab, buildkite = (yaml.safe_load(b) for b in blocks)

steps = {
    "github": [s["run"] for job in github["jobs"].values() for s in job["steps"] if "run" in s],
    "gitlab": [line for job in gitlab.values() for key in ("before_script", "script") for line in job.get(key, [])],
    "buildkite": [s["command"] for s in buildkite["steps"]],
}
EXAMPLE = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
DROP = ("apk add", "AWS_TOKEN", "AWS_ROLE_ARN")
for name, parts in steps.items():
    script = "\n".join(parts)
    if EXAMPLE not in script or "releases/download" not in script:
        sys.exit(f"{name}: the recipe lost its registry or release URL")
    script = script.replace("https://github.com/example/docker-credential-ecr-login/releases/download", release_url)
    script = script.replace("sudo install", "install").replace("/usr/local/bin", bin_dir)
    script = script.replace(EXAMPLE + "/base:1", image).replace(EXAMPLE + "/app:", registry + "/e2e/ci-" + name + ":")
    script = script.replace(EXAMPLE, registry)
    lines = [l for l in script.split("\n") if not any(d in l for d in DROP)]
    head = [
        "set -euo pipefail",
        "buildkite-agent() { cat >/dev/null; }",
        "GITHUB_SHA=e2e CI_COMMIT_SHA=e2e BUILDKITE_COMMIT=e2e",
    ]
    with open(os.path.join(outdir, name + ".sh"), "w", encoding="utf-8") as f:
        f.write("\n".join(head + lines) + "\n")
