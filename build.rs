//! Generates include/peerwire.h from the C ABI with cbindgen. The header is committed;
//! `make check-header` fails when the committed one differs from a fresh one.

use std::path::PathBuf;

fn main() {
    for p in ["src/ffi", "src/error.rs", "src/events.rs", "src/log.rs", "cbindgen.toml"] {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-env-changed=PEERWIRE_HEADER_OUT");
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = match cbindgen::Builder::new().with_crate(&crate_dir).with_config(config).generate() {
        Ok(b) => b,
        Err(e) => {
            // A broken header must not hide the compiler's own (clearer) errors.
            println!("cargo:warning=cbindgen failed: {e}");
            return;
        }
    };
    // PEERWIRE_HEADER_OUT lets the header check write elsewhere and compare.
    let out = std::env::var_os("PEERWIRE_HEADER_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("include").join("peerwire.h"));
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    bindings.write_to_file(out);
}
