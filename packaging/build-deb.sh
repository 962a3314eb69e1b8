#!/usr/bin/env bash
# Builds dist/clore-host_<version>_all.deb with dpkg-deb: the project's wheel and its dependencies'
# wheels for CPython 3.10 to 3.12 on x86_64 (from PyPI), the systemd units, the sample config and
# the shipped policies as conffiles; the maintainer scripts build /opt/clore-host from the wheels.
#
# Usage: packaging/build-deb.sh [OUT_DIR]      (default: dist/; prints the .deb's path)
# Needs: dpkg-deb, gzip, git or tar, a Python with pip ($PYTHON, else .venv/bin/python, else
# python3), and PyPI (or a pip index configured for pip) for the wheels.
set -euo pipefail
umask 022

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
here=$repo/packaging
out=$(mkdir -p "${1:-$repo/dist}" && cd "${1:-$repo/dist}" && pwd)
python=${PYTHON:-}
if [ -z "$python" ]; then
    if [ -x "$repo/.venv/bin/python" ]; then python=$repo/.venv/bin/python; else python=python3; fi
fi
PYTHON_TARGETS="3.10 3.11 3.12"

die() { echo "build-deb: $*" >&2; exit 1; }

version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$repo/pyproject.toml" | head -n 1)
[ -n "$version" ] || die "no version = \"...\" line in pyproject.toml"
logged=$(sed -n '1s/^clore-host (\([^)]*\)).*/\1/p' "$here/changelog")
[ "$logged" = "$version" ] \
    || die "packaging/changelog's top entry is '$logged' but pyproject.toml says '$version': add an entry"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/src
root=$work/root
mkdir -p "$src" "$root"

# Build from a clean copy: setuptools would package stale modules left in the checkout's build/.
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
        | tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$src"
else
    tar -C "$repo" --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./dist \
        --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C "$src"
fi

policies=("$src"/policies/*.toml)
[ -e "${policies[0]}" ] || die "no policies/*.toml to ship"
wanted=$(sed -n 's|^path *= *"/etc/clore-host/policies/\([^"]*\)".*|\1|p' "$here/../clore_host/config.example.toml")
if [ -z "$wanted" ] || [ ! -e "$src/policies/$wanted" ]; then
    die "clore_host/config.example.toml names policy '$wanted', which is not in policies/"
fi

wheels=$root/usr/share/clore-host/wheels
mkdir -p "$wheels"
# The project's wheel, and wheels of its dependencies for this Python: pip builds those that PyPI
# has only as sources (sdnotify, pure Python), so the downloads below find them as wheels.
"$python" -m pip wheel --quiet --disable-pip-version-check --use-pep517 --wheel-dir "$wheels" "$src"
project_wheel=$(ls "$wheels"/clore_host-"$version"-*.whl)
download() {  # TARGET REQUIREMENT...: wheels for CPython TARGET on x86_64 Linux
    local target=$1
    shift
    "$python" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
        --python-version "$target" --implementation cp \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --find-links "$wheels" --dest "$wheels" "$@"
}
for target in $PYTHON_TARGETS; do
    download "$target" "$project_wheel"
    # pip judges markers by the Python it runs on: fetch what only the target needs, until complete.
    for _ in 1 2 3 4 5; do
        mapfile -t unmet < <("$python" "$here/wheelset.py" "$wheels" "$target")
        [ "${#unmet[@]}" -eq 0 ] && break
        download "$target" "${unmet[@]}"
    done
    [ "${#unmet[@]}" -eq 0 ] || die "no wheels for CPython $target: ${unmet[*]}"
done

install -d "$root/etc/clore-host/policies" "$root/lib/systemd/system" \
    "$root/usr/share/doc/clore-host" "$root/DEBIAN"
install -m 0644 "$here/../clore_host/config.example.toml" "$root/etc/clore-host/config.toml"
install -m 0644 "${policies[@]}" "$root/etc/clore-host/policies/"
install -m 0644 "$repo"/systemd/clore-host.service "$repo"/systemd/clore-host-reprice.service \
    "$repo"/systemd/clore-host-reprice.timer "$root/lib/systemd/system/"
install -m 0644 "$here/copyright" "$root/usr/share/doc/clore-host/copyright"
gzip -9n -c "$here/changelog" >"$root/usr/share/doc/clore-host/changelog.gz"
chmod 0644 "$root/usr/share/doc/clore-host/changelog.gz"
if [ -f "$src/README.md" ]; then
    install -m 0644 "$src/README.md" "$root/usr/share/doc/clore-host/README.md"
fi

(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
for script in preinst postinst prerm postrm; do
    sed "s/@VERSION@/$version/g" "$here/debian/$script" >"$root/DEBIAN/$script"
    chmod 0755 "$root/DEBIAN/$script"
done
install -m 0644 "$here/debian/triggers" "$root/DEBIAN/triggers"
(cd "$root" && find lib usr -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f 1)
sed -e "s/@VERSION@/$version/g" -e "s/@INSTALLED_SIZE@/$size/g" "$here/debian/control.in" \
    >"$root/DEBIAN/control"
chmod -R u=rwX,go=rX "$root/usr" "$root/etc" "$root/lib"

deb=$out/clore-host_${version}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
