//! The browser UIs of the suite: plain HTML, CSS and JavaScript modules, embedded in the
//! binaries at build time (no Node toolchain, no build step, no CDN; they work offline).
//!
//! Each service serves its own UI and the shared components through [`asset`]:
//! the master's cluster console at `/` (see [`CONSOLE_INDEX`]) and Marathon's UI at `/ui/`
//! ([`MARATHON_INDEX`]). Everything else a page
//! needs is under `/static/`, e.g. `/static/common/table.js`.

/// An embedded file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)) as &[u8])),*]
    };
}

/// Every embedded file, by its path under `/static/`.
const FILES: &[(&str, &[u8])] = assets![
    "common/style.css",
    "common/api.js",
    "common/format.js",
    "common/table.js",
    "common/chart.js",
    "console/index.html",
    "console/app.js",
    "console/views.js",
    "console/sandbox.js",
    "marathon/index.html",
    "marathon/app.js",
    "marathon/model.js",
    "marathon/apps.js",
    "marathon/app_page.js",
    "marathon/form.js",
    "marathon/deployments.js",
];

/// The cluster console's page, served at the master's `/`.
pub const CONSOLE_INDEX: &str = "console/index.html";

/// The Marathon UI's page, served at Marathon's `/ui/` (`/` redirects there).
pub const MARATHON_INDEX: &str = "marathon/index.html";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// The file at `path` under `/static/` (`common/table.js`), if embedded.
pub fn asset(path: &str) -> Option<Asset> {
    FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(p, body)| Asset {
            content_type: content_type(p),
            body,
        })
}

/// The embedded file a request path `/static/<path>` asks for.
pub fn static_asset(request_path: &str) -> Option<Asset> {
    asset(request_path.strip_prefix("/static/")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_with_its_type() {
        for (path, body) in FILES {
            let a = static_asset(&format!("/static/{path}")).unwrap();
            assert_eq!(a.body, *body);
            assert!(!a.body.is_empty(), "{path} is empty");
        }
        assert_eq!(
            asset("common/table.js").unwrap().content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            asset(CONSOLE_INDEX).unwrap().content_type,
            "text/html; charset=utf-8"
        );
        assert!(static_asset("/static/../Cargo.toml").is_none());
        assert!(static_asset("/other/common/api.js").is_none());
    }

    #[test]
    fn pages_only_load_embedded_modules() {
        // No CDN, nothing missing: every `/static/...` a file refers to is embedded.
        for (path, body) in FILES {
            let text = std::str::from_utf8(body).unwrap();
            for remote in [
                "src=\"http",
                "href=\"http",
                "from \"http",
                "url(http",
                "import(\"http",
            ] {
                assert!(
                    !text.contains(remote),
                    "{path} loads from the network ({remote})"
                );
            }
            for part in text.split("/static/").skip(1) {
                let target: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "/._-".contains(*c))
                    .collect();
                assert!(
                    asset(&target).is_some(),
                    "{path} refers to missing /static/{target}"
                );
            }
        }
    }
}
