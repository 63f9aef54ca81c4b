# Cross-compiles for arm64 Linux with Debian's g++-aarch64-linux-gnu, so CI can build the
# native test binary for the NEON path and run it under qemu-aarch64 on an x86-64 machine:
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Headers and libraries of the target only; programs (cmake's own tools) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest runs the cross-built binary through qemu-user (Debian's qemu-user or
# qemu-user-static) with the target's libraries. Without qemu the build still works
# (for a real arm64 machine) and ctest fails rather than skips.
find_program(LCKV_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(LCKV_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${LCKV_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
