//! Where the shared data tree lives: `$GENMS_SHARED`, else `../shared` beside the workspace root. Resolved from the
//! workspace root (not the directory of the crate a test runs in), so tests in any crate find the same tree.

use std::path::PathBuf;

/// The workspace root this crate was built in (the parent of `shared/`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Root of the shared data tree: `$GENMS_SHARED` if set (relative paths are taken from the workspace root), else
/// `<workspace root>/../shared`.
pub fn shared_root() -> PathBuf {
    match std::env::var_os("GENMS_SHARED") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        }
        _ => workspace_root().join("..").join("shared"),
    }
}
