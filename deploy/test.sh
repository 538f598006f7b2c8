#!/bin/sh
# Install dependencies, build with AddressSanitizer + UndefinedBehaviorSanitizer and -Werror, and run the
# whole test suite under CTest (its last line counts the tests).
set -eu
cd "$(dirname "$0")/.."
sh deploy/install-deps.sh
BUILD=${BUILD:-build-test}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXD_SANITIZE=ON -DMXD_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
cd "$BUILD"
ctest --output-on-failure -j2 --timeout 300
