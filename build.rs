//! Link settings for the shared libraries.
fn main() {
    // Every live zmqpool message names a release function inside this
    // library, and libzmq may call it long after a dlclose(): the library
    // must never be unmapped (-z nodelete makes dlclose keep it).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
}
