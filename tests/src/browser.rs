//! Opens a page in headless Chromium (Debian's package, installed by `make setup-browser`) as
//! a reader would: the DOM after rendering, a screenshot, and every request the page itself
//! made (from Chromium's net log; the browser's own background requests are not the page's).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::repo_root;

/// What Chromium made of a page.
pub struct PageSeen {
    /// The DOM after rendering, serialized.
    pub dom: String,
    /// The URLs the page requested (none for a self-contained page).
    pub page_requests: Vec<String>,
    pub screenshot: PathBuf,
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "{} is missing: run `make setup-browser` (Debian's chromium package), or set CHROMIUM",
        path.display()
    );
    path
}

/// Chromium with a fresh profile and without its background traffic, as the machine's probe
/// ran it.
fn headless(dir: &Path) -> Command {
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()));
    command
}

/// Writes `html` to `target/browser/<name>/page.html` and opens it.
pub fn open_page(html: &str, name: &str) -> PageSeen {
    let dir = repo_root().join("target/browser").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("page.html");
    std::fs::write(&page, html).unwrap();
    let url = format!("file://{}", page.display());
    let net_log = dir.join("net-log.json");
    let dumped = headless(&dir)
        .arg(format!("--log-net-log={}", net_log.display()))
        .args(["--dump-dom", &url])
        .output()
        .expect("running chromium");
    assert!(
        dumped.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let screenshot = dir.join("screenshot.png");
    let shot = headless(&dir)
        .arg(format!("--screenshot={}", screenshot.display()))
        .args(["--window-size=1280,2000", &url])
        .output()
        .expect("running chromium");
    assert!(
        shot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    PageSeen {
        dom: String::from_utf8(dumped.stdout).unwrap(),
        page_requests: page_requests(&net_log),
        screenshot,
    }
}

/// The URLs requested on behalf of a `file://` page (its network isolation key), from a net log.
fn page_requests(net_log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(net_log).expect("chromium's net log");
    // a log cut short at exit lacks its closing brackets
    let log: Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .expect("chromium's net log as JSON");
    log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|event| {
            let params = event.get("params")?;
            let url = params.get("url")?.as_str()?;
            let key = params.get("network_isolation_key")?.as_str()?;
            key.starts_with("file://").then(|| url.to_string())
        })
        .collect()
}
