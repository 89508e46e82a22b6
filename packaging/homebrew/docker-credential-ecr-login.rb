# Homebrew formula for docker-credential-ecr-login (Rust). It builds from source with cargo, as
# Homebrew's own docker-credential-helper-ecr formula builds the Go helper with go. To use it
# before it is in a tap: brew install --formula ./packaging/homebrew/docker-credential-ecr-login.rb
# (README, "macOS"). CI checks its syntax (ruby -c, packaging/macos/check.sh); nothing here runs brew.
class DockerCredentialEcrLogin < Formula
  desc "Amazon ECR credential helper for Docker: cached, concurrent-safe, bounded in time"
  homepage "https://github.com/example/docker-credential-ecr-login"
  url "https://github.com/example/docker-credential-ecr-login.git",
      tag: "v0.1.0"
  license "Apache-2.0"
  head "https://github.com/example/docker-credential-ecr-login.git", branch: "main"

  depends_on "rust" => :build

  conflicts_with "docker-credential-helper-ecr",
    because: "both install a `docker-credential-ecr-login` binary"

  def install
    # `docker-credential-ecr-login version` names the commit, as the release binaries' does.
    ENV["ECR_LOGIN_COMMIT"] = Utils.git_short_head(length: 12)
    system "cargo", "install", *std_cargo_args
    man1.install "docs/docker-credential-ecr-login.1"
  end

  test do
    assert_match "docker-credential-ecr-login #{version} (rust",
      shell_output("#{bin}/docker-credential-ecr-login version")
    # A registry that is not ECR: Docker's "not found" answer and exit status 1, before any
    # credential or network is looked at (Docker, skopeo and podman then go on anonymously).
    output = pipe_output("#{bin}/docker-credential-ecr-login get", "registry.example.com\n", 1)
    assert_equal "credentials not found in native keychain\n", output
  end
end
