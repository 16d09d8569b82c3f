//! The nginx reference row: finding nginx and writing its one-worker configuration.

use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Nginx {
    /// The binary.
    pub bin: PathBuf,
    /// `nginx -v`, without the prefix.
    pub version: String,
}

/// Write `nginx.conf` for one worker serving `root` on `127.0.0.1:port`, into `dir`.
pub fn write_nginx_conf(dir: &Path, root: &Path, port: u16) -> io::Result<PathBuf> {
    let d = dir.display();
    let conf = format!(
        "# Written by `harness compare`: the reference row, one worker, one process.\n\
daemon off;\nmaster_process off;\nworker_processes 1;\n\
error_log {d}/error.log;\npid {d}/nginx.pid;\nworker_rlimit_nofile 20000;\n\
events {{ worker_connections 20000; }}\n\
http {{\n  access_log off;\n  sendfile on;\n  keepalive_timeout 120;\n  keepalive_requests 1000000000;\n\
  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
  types {{ text/html html; application/octet-stream bin; }}\n\
  server {{ listen 127.0.0.1:{port} backlog=4096; root {}; }}\n}}\n",
        root.display()
    );
    let path = dir.join("nginx.conf");
    fs::write(&path, conf)?;
    Ok(path)
}

pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

pub fn find_nginx() -> Option<Nginx> {
    let bin = find_in_path("nginx")?;
    let out = Command::new(&bin).arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let version = text
        .trim()
        .strip_prefix("nginx version: nginx/")
        .unwrap_or(text.trim())
        .to_string();
    Some(Nginx { bin, version })
}
