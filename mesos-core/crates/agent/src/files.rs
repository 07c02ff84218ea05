//! `/files/browse`, `/files/read` and `/files/download`, confined to the sandboxes
//! (`<work_dir>/slaves`). Anything that does not canonicalize to inside it is 404.

use crate::http::error;
use crate::runtime::Shared;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest chunk `/files/read` returns (Mesos: 16 pages).
pub const MAX_READ: u64 = 16 * 4096;

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "File not found")
}

/// Resolve a requested path to a real path inside `<work_dir>/slaves`.
pub fn resolve(work_dir: &Path, requested: &str) -> Option<PathBuf> {
    if requested.is_empty() || !requested.starts_with('/') {
        return None;
    }
    let root = work_dir.join("slaves").canonicalize().ok()?;
    let real = Path::new(requested).canonicalize().ok()?;
    if real.starts_with(&root) {
        Some(real)
    } else {
        None
    }
}

fn path_param(q: &HashMap<String, String>) -> Result<&str, Response> {
    q.get("path")
        .map(String::as_str)
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "Expecting 'path' query parameter"))
}

/// The sandbox file named by `?path=`, as requested and as the real path: 400 without the
/// parameter, 404 outside a sandbox.
fn requested_file<'a>(
    shared: &Shared,
    q: &'a HashMap<String, String>,
) -> Result<(&'a str, PathBuf), Response> {
    let requested = path_param(q)?;
    let real = resolve(&shared.work_dir, requested).ok_or_else(not_found)?;
    Ok((requested, real))
}

fn mode_string(mode: u32, is_dir: bool, is_link: bool) -> String {
    let mut s = String::with_capacity(10);
    s.push(if is_dir {
        'd'
    } else if is_link {
        'l'
    } else {
        '-'
    });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// Map a numeric id to a name through `/etc/passwd` or `/etc/group`.
fn id_name(file: &str, id: u32) -> String {
    if let Ok(text) = std::fs::read_to_string(file) {
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() > 2 && f[2].parse::<u32>().ok() == Some(id) {
                return f[0].to_string();
            }
        }
    }
    id.to_string()
}

fn entry(path: &Path, md: &std::fs::Metadata) -> serde_json::Value {
    json!({
        "path": path.display().to_string(),
        "nlink": md.nlink(),
        "size": md.size(),
        "mtime": md.mtime(),
        "mode": mode_string(md.permissions().mode(), md.is_dir(), md.file_type().is_symlink()),
        "uid": id_name("/etc/passwd", md.uid()),
        "gid": id_name("/etc/group", md.gid()),
    })
}

pub(crate) async fn browse(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (requested, real) = match requested_file(&shared, &q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(md) = std::fs::metadata(&real) else {
        return not_found();
    };
    let mut out = Vec::new();
    if md.is_dir() {
        let Ok(rd) = std::fs::read_dir(&real) else {
            return not_found();
        };
        let mut names: Vec<_> = rd.flatten().collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let shown = Path::new(requested.trim_end_matches('/')).join(e.file_name());
            if let Ok(m) = std::fs::symlink_metadata(e.path()) {
                out.push(entry(&shown, &m));
            }
        }
    } else {
        out.push(entry(Path::new(requested), &md));
    }
    axum::Json(out).into_response()
}

fn parse_i64(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, Response> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                format!("Failed to parse {name}: '{v}' is not a number"),
            )
        }),
    }
}

pub(crate) async fn read(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let requested = match path_param(&q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (offset, length) = match (parse_i64(&q, "offset"), parse_i64(&q, "length")) {
        (Ok(o), Ok(l)) => (o, l),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if offset.is_some_and(|o| o < -1) {
        return error(StatusCode::BAD_REQUEST, "Negative offset provided");
    }
    if length.is_some_and(|l| l < -1) {
        return error(StatusCode::BAD_REQUEST, "Negative length provided");
    }
    let Some(real) = resolve(&shared.work_dir, requested) else {
        return not_found();
    };
    let Ok(md) = std::fs::metadata(&real) else {
        return not_found();
    };
    if md.is_dir() {
        return error(StatusCode::BAD_REQUEST, "Cannot read a directory");
    }
    let size = md.len();
    let offset = match (offset, length) {
        (Some(-1), _) | (None, None) => {
            return axum::Json(json!({"data": "", "offset": size})).into_response()
        }
        (Some(o), _) => o as u64,
        (None, Some(_)) => 0,
    };
    if offset >= size {
        return axum::Json(json!({"data": "", "offset": offset})).into_response();
    }
    let want = match length {
        Some(l) if l >= 0 => (l as u64).min(MAX_READ),
        _ => MAX_READ,
    };
    let want = want.min(size - offset);
    let mut buf = vec![0u8; want as usize];
    let res = std::fs::File::open(&real).and_then(|mut f| {
        f.seek(SeekFrom::Start(offset))?;
        let n = f.read(&mut buf)?;
        buf.truncate(n);
        Ok(())
    });
    if let Err(e) = res {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to read file: {e}"),
        );
    }
    axum::Json(json!({"data": String::from_utf8_lossy(&buf), "offset": offset})).into_response()
}

pub(crate) async fn download(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (_, real) = match requested_file(&shared, &q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if real.is_dir() {
        return error(StatusCode::BAD_REQUEST, "Cannot download a directory");
    }
    let Ok(data) = tokio::fs::read(&real).await else {
        return not_found();
    };
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().replace('"', ""))
        .unwrap_or_default();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        data,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_confined_to_sandboxes() {
        let dir = tempfile::tempdir().unwrap();
        let wd = dir.path().canonicalize().unwrap();
        let sb = wd.join("slaves/a/frameworks/f/executors/e/runs/c");
        std::fs::create_dir_all(&sb).unwrap();
        std::fs::write(sb.join("stdout"), "hi").unwrap();
        std::fs::write(wd.join("secret"), "no").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", sb.join("escape")).unwrap();
        let p = |s: &Path| s.display().to_string();
        assert!(resolve(&wd, &p(&sb.join("stdout"))).is_some());
        assert!(resolve(&wd, &p(&sb.join("../../../../../../../secret"))).is_none());
        assert!(resolve(&wd, &p(&sb.join("escape"))).is_none());
        assert!(resolve(&wd, "/etc/passwd").is_none());
        assert!(resolve(&wd, "relative").is_none());
        assert_eq!(mode_string(0o755, true, false), "drwxr-xr-x");
    }
}
