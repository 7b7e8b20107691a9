//! Command families judged by name and subcommand alone, as one table: system changes made
//! without `sudo` (services, packages, users, networks), VM/cluster/cloud destruction, remote
//! desktops and shells, credential and attack tooling, releases, and removing the gateway
//! through a package manager. A row matches when the program is one of `names` and one of
//! its first operands (or options) is among `verbs` (no verbs: any use).

use super::Classifier;
use crate::policy::findings::Code;
use crate::policy::shell::Command;

/// One family of commands and the finding it raises.
struct Family {
    names: &'static [&'static str],
    /// Subcommand words or options that make the command do the harm; empty: any use.
    verbs: &'static [&'static str],
    finding: Code,
    what: &'static str,
}

/// How many leading operands are searched for a verb (`gcloud compute instances delete`).
const VERB_DEPTH: usize = 4;

const PACKAGE_CHANGES: &[&str] = &[
    "install",
    "reinstall",
    "remove",
    "purge",
    "erase",
    "upgrade",
    "dist-upgrade",
    "full-upgrade",
    "autoremove",
    "update",
    "del",
    "add",
    "rm",
    "uninstall",
    "in",
    "up",
    "dup",
    "-S",
    "-Sy",
    "-Syu",
    "-Syyu",
    "-Su",
    "-R",
    "-Rs",
    "-Rns",
    "-Rdd",
    "-U",
    "-i",
    "-e",
    "-r",
    "-P",
    "--install",
    "--remove",
    "--purge",
];

/// Programs that install and remove software (system and language package managers).
const PACKAGE_MANAGERS: &[&str] = &[
    "apt", "apt-get", "aptitude", "dpkg", "yum", "dnf", "pacman", "paru", "yay", "zypper", "apk",
    "emerge", "rpm", "snap", "port", "pkg", "nix-env", "brew", "cargo", "npm", "pnpm", "yarn",
    "bun", "pip", "pip3", "pipx", "uv", "gem", "go", "flatpak", "winget", "choco", "scoop", "mise",
    "asdf",
];

const FAMILIES: &[Family] = &[
    Family {
        names: &["systemctl", "service", "rc-service", "sv", "initctl"],
        verbs: &[
            "start",
            "stop",
            "restart",
            "reload",
            "enable",
            "disable",
            "mask",
            "kill",
            "isolate",
            "daemon-reload",
            "try-restart",
            "reload-or-restart",
            "set-default",
            "edit",
            "revert",
            "poweroff",
            "reboot",
            "halt",
            "suspend",
            "hibernate",
            "rescue",
            "emergency",
            "--now",
        ],
        finding: Code::SystemService,
        what: "starts, stops or reconfigures a system service",
    },
    Family {
        names: &[
            "apt",
            "apt-get",
            "aptitude",
            "dpkg",
            "yum",
            "dnf",
            "microdnf",
            "pacman",
            "paru",
            "yay",
            "zypper",
            "apk",
            "emerge",
            "xbps-install",
            "xbps-remove",
            "rpm",
            "snap",
            "port",
            "pkg",
            "opkg",
            "nix-env",
            "eopkg",
            "swupd",
        ],
        verbs: PACKAGE_CHANGES,
        finding: Code::SystemPackages,
        what: "installs, removes or upgrades system packages",
    },
    Family {
        names: &[
            "gpasswd",
            "visudo",
            "vipw",
            "vigr",
            "groupadd",
            "groupmod",
            "chsh",
            "chfn",
            "chage",
            "pwck",
            "newusers",
            "pam-auth-update",
            "authconfig",
        ],
        verbs: &[],
        finding: Code::SystemUsers,
        what: "changes users, groups, passwords or sudo rights",
    },
    Family {
        names: &[
            "nmcli",
            "netplan",
            "resolvectl",
            "route",
            "tc",
            "brctl",
            "wg-quick",
            "ifup",
            "ifdown",
            "nft",
            "pfctl",
        ],
        verbs: &[
            "up",
            "down",
            "delete",
            "del",
            "modify",
            "add",
            "off",
            "disconnect",
            "apply",
            "flush",
            "reload",
            "set",
            "-f",
            "-F",
            "-d",
            "-e",
            "replace",
        ],
        finding: Code::SystemNetwork,
        what: "reconfigures the machine's network or firewall",
    },
    Family {
        names: &["tailscale", "zerotier-cli", "netbird"],
        verbs: &[
            "up", "down", "set", "logout", "login", "join", "leave", "cert",
        ],
        finding: Code::SystemPrivateNetwork,
        what: "joins, leaves or exposes the machine on a private network",
    },
    Family {
        names: &["xhost"],
        verbs: &["+"],
        finding: Code::SystemNetwork,
        what: "lets other hosts open windows and read keystrokes on this display",
    },
    Family {
        names: &[
            "doctl",
            "linode-cli",
            "hcloud",
            "vultr-cli",
            "scw",
            "exo",
            "upcloud",
            "civo",
            "oci",
            "ibmcloud",
        ],
        verbs: &["rm", "delete", "destroy", "remove", "terminate", "purge"],
        finding: Code::CloudDestroy,
        what: "deletes cloud resources",
    },
    Family {
        names: &[
            "qm",
            "pct",
            "virsh",
            "vboxmanage",
            "VBoxManage",
            "multipass",
            "lxc",
            "incus",
            "vagrant",
            "prlctl",
            "vmrun",
            "utmctl",
            "limactl",
            "colima",
        ],
        verbs: &[
            "destroy",
            "undefine",
            "delete",
            "unregistervm",
            "purge",
            "rm",
            "remove",
            "vol-delete",
            "pool-delete",
            "snapshot-delete",
            "deleteVM",
            "stop",
            "shutdown",
            "poweroff",
        ],
        finding: Code::CloudDestroy,
        what: "destroys or stops virtual machines or containers",
    },
    Family {
        names: &["terraform", "tofu", "terragrunt"],
        verbs: &["taint", "untaint", "-destroy", "force-unlock", "rm"],
        finding: Code::CloudDestroy,
        what: "marks infrastructure for destruction or edits its state",
    },
    Family {
        names: &[
            "xxh",
            "xfreerdp",
            "xfreerdp3",
            "rdesktop",
            "remmina",
            "vncviewer",
            "xtightvncviewer",
            "evil-winrm",
            "tsh",
            "wsmancmd",
            "psexec",
            "winrs",
        ],
        verbs: &[],
        finding: Code::NetRemoteShell,
        what: "opens a remote shell or desktop on another machine",
    },
    Family {
        names: &[
            "tailscale",
            "gcloud",
            "az",
            "aws",
            "doctl",
            "flyctl",
            "fly",
            "heroku",
            "railway",
            "limactl",
            "multipass",
            "vagrant",
        ],
        verbs: &["ssh", "start-session", "console"],
        finding: Code::NetRemoteShell,
        what: "opens a remote shell on another machine",
    },
    Family {
        names: &[
            "hydra",
            "medusa",
            "ncrack",
            "patator",
            "john",
            "hashcat",
            "ophcrack",
            "nxc",
            "netexec",
            "crackmapexec",
            "responder",
            "Responder.py",
            "aircrack-ng",
            "aireplay-ng",
            "airodump-ng",
            "airmon-ng",
            "wifite",
            "reaver",
            "mimikatz",
            "pypykatz",
            "lsassy",
            "kerbrute",
            "bloodhound-python",
            "certipy",
            "certipy-ad",
            "msfconsole",
            "msfvenom",
            "ettercap",
            "bettercap",
            "mitm6",
            "sqlmap",
            "hping3",
            "arpspoof",
            "dnschef",
            "coercer",
            "petitpotam",
            "secretsdump.py",
            "psexec.py",
            "smbexec.py",
            "wmiexec.py",
            "atexec.py",
            "dcomexec.py",
            "GetNPUsers.py",
            "GetUserSPNs.py",
            "ntlmrelayx.py",
            "smbclient.py",
            "ticketer.py",
        ],
        verbs: &[],
        finding: Code::AttackTooling,
        what: "runs credential-cracking or network attack tooling",
    },
    Family {
        names: &[
            "pkgctl",
            "goreleaser",
            "docker",
            "podman",
            "buildah",
            "skopeo",
            "crane",
            "helm",
            "gem",
            "poetry",
            "flit",
            "hatch",
            "uv",
            "dotnet",
            "mvn",
            "gradle",
            "vsce",
            "ovsx",
            "snapcraft",
            "dput",
            "release-it",
            "semantic-release",
            "changeset",
            "lerna",
        ],
        verbs: &["release", "push", "publish", "deploy", "upload", "copy"],
        finding: Code::NetRelease,
        what: "publishes a release, package or image to a registry",
    },
];

/// Package managers' words for removing or replacing a package.
const UNINSTALL: &[&str] = &[
    "uninstall",
    "remove",
    "rm",
    "un",
    "r",
    "purge",
    "erase",
    "del",
    "unlink",
    "-R",
    "-Rs",
    "-Rns",
    "-e",
    "--uninstall",
    "install",
    "reinstall",
    "i",
    "add",
    "upgrade",
    "-U",
];

impl Classifier<'_> {
    /// Applies the [`FAMILIES`] table and the gateway-removal rule to one command.
    pub(super) fn families(&mut self, cmd: &Command, span: &str) {
        let name = cmd.name();
        let words: Vec<&str> = cmd
            .argv
            .iter()
            .skip(1)
            .map(|w| w.text.as_str())
            .filter(|a| !a.starts_with("--") || a.len() > 2)
            .collect();
        // `xfreerdp --version`, `hydra -h`: asking a program about itself runs nothing.
        if !words.is_empty()
            && words.iter().all(|w| {
                matches!(
                    *w,
                    "--version" | "-V" | "--help" | "-h" | "version" | "help"
                )
            })
        {
            return;
        }
        let leading: Vec<&str> = words.iter().take(VERB_DEPTH + 2).copied().collect();
        for f in FAMILIES.iter().filter(|f| f.names.contains(&name)) {
            let hit = f.verbs.is_empty()
                || leading.iter().any(|w| f.verbs.contains(w))
                || (f.finding == Code::SystemPackages && pacman_change(name, &leading));
            if hit {
                self.finding(f.finding, format!("`{name}` {}", f.what), span);
            }
        }
        // `gh release create`, `glab release upload`: publishing (listing releases is not).
        if matches!(name, "gh" | "glab")
            && words.first() == Some(&"release")
            && words
                .get(1)
                .is_some_and(|v| matches!(*v, "create" | "upload" | "edit" | "delete"))
        {
            // Medium: releasing the project's own repository is ordinary maintainer work
            // (flagged for review); pushing images and packages to registries is high.
            self.finding(
                Code::NetRepoRelease,
                format!("`{name} release` publishes or changes a release of this repository"),
                span,
            );
        }
        // `impacket-secretsdump`, `python3 secretsdump.py`…
        let script = words
            .first()
            .filter(|_| name.starts_with("python"))
            .map(|s| s.rsplit('/').next().unwrap_or(s));
        let attack_script = script.is_some_and(|s| {
            FAMILIES
                .iter()
                .any(|f| f.finding == Code::AttackTooling && f.names.contains(&s))
        });
        if name.starts_with("impacket-") || attack_script {
            self.finding(
                Code::AttackTooling,
                format!("`{name}` runs credential-dumping or lateral-movement tooling"),
                span,
            );
        }
        // `cargo uninstall patchwork-gateway`, `brew uninstall …`, `npm rm -g …`.
        let removes =
            PACKAGE_MANAGERS.contains(&name) && leading.iter().any(|w| UNINSTALL.contains(w));
        if removes && words.iter().skip(1).any(|w| w.contains("patchwork")) {
            self.finding(Code::SelfUninstall, format!("`{name}` removes or replaces the gateway; the agent may not uninstall its guard"),
                span,
            );
        }
    }
}

/// pacman-style managers take the operation as an option (`-Syu`, `-Rns`): any sync,
/// remove or upgrade operation other than a query (`-Ss`, `-Si`, `-Sl`, `-Q…`).
fn pacman_change(name: &str, words: &[&str]) -> bool {
    matches!(name, "pacman" | "paru" | "yay" | "pikaur" | "trizen")
        && words.iter().any(|w| {
            w.starts_with('-')
                && !w.starts_with("--")
                && (w.contains('R')
                    || w.contains('U')
                    || (w.contains('S') && !w.contains(['s', 'i', 'l', 'g', 'p'])))
        })
}
