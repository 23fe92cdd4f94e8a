#!/usr/bin/env bash
# What the tests build beyond Rust: libclang, which the `v4l2` feature's bindgen loads, and
# g++, which builds the GPU preprocessing kernels' source on the host to check it against
# the CPU path. Installs the missing Debian packages (libclang-dev, g++) as root or through
# sudo, and otherwise says what to install.
set -euo pipefail

have_libclang() {
    # libclang itself (libclang.so, libclang-14.so.1), not LLVM's libclang-cpp, which bindgen
    # cannot use.
    [ -n "${LIBCLANG_PATH:-}" ] && return 0
    ldconfig -p 2>/dev/null | grep -qE 'libclang(-[0-9][0-9.]*)?\.so' && return 0
    compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null && return 0
    compgen -G '/usr/lib/llvm-*/lib/libclang-[0-9]*.so*' >/dev/null
}

missing=()
have_libclang || missing+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-build-tools: the tests need ${missing[*]}; install them (Debian/Ubuntu: apt-get install ${missing[*]}) or, for libclang, set LIBCLANG_PATH" >&2
        exit 1
    fi
fi
echo "ensure-build-tools: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
