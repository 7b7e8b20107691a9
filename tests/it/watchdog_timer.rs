//! `watchdog --install/--uninstall` where there is no systemd user session: the crontab path.
//! A stand-in `crontab` program (keeping its table in a file) is put first on PATH, and the
//! systemd user bus is hidden, so nothing outside the sandbox is touched.

use crate::hook_common::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn installs_and_removes_a_crontab_line() {
    let s = Sandbox::new();
    let bin = s.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let table = s.dir.path().join("crontab.txt");
    std::fs::write(&table, "0 3 * * * /usr/bin/backup\n").unwrap();
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = \"-l\" ]; then cat '{t}'; else cat > '{t}'; fi\n",
        t = table.display()
    );
    let crontab = bin.join("crontab");
    std::fs::write(&crontab, script).unwrap();
    std::fs::set_permissions(&crontab, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let run = |args: &[&str]| {
        let out = s
            .cmd(args)
            .env("PATH", &path)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("XDG_RUNTIME_DIR")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    assert!(run(&["watchdog", "--install"]).contains("crontab"));
    run(&["watchdog", "--install"]);
    let t = std::fs::read_to_string(&table).unwrap();
    let ours: Vec<&str> = t
        .lines()
        .filter(|l| l.contains("watchdog --once"))
        .collect();
    assert_eq!(ours.len(), 1, "installed once, even when run twice: {t}");
    assert!(ours[0].starts_with("*/5 * * * * /"), "{t}");
    assert!(
        ours[0].contains(&format!("--home {}", s.pw.display())),
        "{t}"
    );
    assert!(t.contains("/usr/bin/backup"), "other lines kept: {t}");

    assert!(run(&["watchdog", "--uninstall"]).contains("crontab line"));
    assert_eq!(
        std::fs::read_to_string(&table).unwrap(),
        "0 3 * * * /usr/bin/backup\n"
    );
}
