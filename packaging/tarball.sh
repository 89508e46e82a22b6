# shellcheck shell=bash
# The release tarballs' one recipe: packaging/release.sh makes the Linux ones with it,
# packaging/macos/release.sh the macOS one. Sourced, not run, from the repository's root; the
# caller sets BIN, SOURCE_DATE_EPOCH, LC_ALL=C, TZ=UTC and umask 022.
#
# release_tarball [--link LINK] OUT NAME BINARY TARGET [DOC...]
#   writes OUT, a gzip'd tar of the directory NAME/ holding BINARY as $BIN, LICENSE, README.md,
#   CHANGELOG.md, THIRD-PARTY.txt (packaging/third-party.py TARGET: the crates linked in for
#   TARGET), each DOC in NAME/docs/, and with --link, LINK: a symbolic link to $BIN beside it.
# Reproducible: sorted entries, root-owned, mtimes at SOURCE_DATE_EPOCH (the commit time), no
# PAX atime/ctime, gzip without name or time stamp.
# In a subshell: fails at the first command that fails, and removes its staging directory.
release_tarball() (
    set -euo pipefail
    link=
    if [ "$1" = --link ]; then
        link=$2
        shift 2
    fi
    out=$1 name=$2 binary=$3 target=$4
    shift 4
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    dir=$stage/$name
    install -d "$dir/docs"
    install -m 0755 "$binary" "$dir/$BIN"
    install -m 0644 LICENSE README.md CHANGELOG.md "$dir/"
    [ $# -eq 0 ] || install -m 0644 "$@" "$dir/docs/"
    [ -z "$link" ] || ln -s "$BIN" "$dir/$link"
    python3 packaging/third-party.py "$target" >"$dir/THIRD-PARTY.txt"
    chmod 0644 "$dir/THIRD-PARTY.txt"
    find "$dir" -depth -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    tar --create --sort=name --format=posix \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
        -C "$stage" "$name" | gzip -9n >"$out"
)
