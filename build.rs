//! The C shim that makes the embedded mimalloc fork-safe
//! (c_src/mimalloc_fork.c).
use std::env;

fn main() {
    // The shared libraries are linked -z nodelete by the Makefile, which
    // builds them (`cargo rustc --crate-type cdylib ... -C
    // link-arg=-Wl,-z,nodelete`): Cargo.toml lists no cdylib, so a build
    // script may not pass cdylib link arguments.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=c_src/mimalloc_fork.c");

    // The headers of the mimalloc libmimalloc-sys compiles (links =
    // "mimalloc" exports its include directory), with the same MI_DEBUG,
    // so the shim sees the same structure layouts.
    let include = env::var("DEP_MIMALLOC_INCLUDE_DIR")
        .expect("libmimalloc-sys exports DEP_MIMALLOC_INCLUDE_DIR");
    let mut shim = cc::Build::new();
    shim.file("c_src/mimalloc_fork.c")
        .include(&include)
        .include(format!("{include}/../src"))
        .define("MI_DEBUG", "0")
        .warnings(false);
    if env::var("DEBUG")
        .map(|d| d != "true" && d != "1")
        .unwrap_or(true)
    {
        shim.define("MI_BUILD_RELEASE", None).define("NDEBUG", None);
    }
    shim.compile("zmqpool_mimalloc_fork");
}
