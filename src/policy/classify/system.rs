//! Risk rules for the machine and its services: environment dumps, signals, services,
//! containers, cloud resources and databases.

use super::Classifier;
use crate::call::{Flag, Risk};
use crate::policy::shell::{Command, Stdin};

impl Classifier<'_> {
    pub(super) fn env_dump(&mut self, cmd: &Command, span: &str) {
        let name = cmd.name();
        let rest: Vec<&str> = cmd.args().into_iter().skip(1).collect();
        let dump = match name {
            "env" | "printenv" => rest
                .iter()
                .all(|a| a.starts_with('-') || name == "env" && a.contains('=')),
            "export" => rest.is_empty() || rest == ["-p"],
            "set" => rest.is_empty(),
            "declare" | "typeset" => {
                rest.iter().all(|a| a.starts_with('-')) && !rest.is_empty() || rest.is_empty()
            }
            "compgen" => rest.iter().any(|a| *a == "-v" || *a == "-e"),
            _ => false,
        };
        if dump
            && !(name == "printenv" && !rest.is_empty() && rest.iter().any(|a| !a.starts_with('-')))
        {
            self.finding(
                "secrets.env_dump",
                Risk::High,
                &[Flag::EnvDump, Flag::SecretRead],
                "prints the whole environment, which holds API keys and tokens; print the one variable you need",
                span,
            );
        }
    }

    pub(super) fn kill(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        if cmd.argv.iter().skip(1).any(|w| w.dynamic) {
            self.dynamic_kill = Some(span.to_string());
        }
        if args.iter().any(|a| a.contains("patchwork")) {
            self.finding(
                "self.kill",
                Risk::Critical,
                &[Flag::SelfProtection],
                "the agent may not stop the gateway",
                span,
            );
        }
        let everything = match cmd.name() {
            // `kill -9 -1`, `kill -s KILL -1`, `kill -- -1`: pid -1 after a signal or `--`.
            "kill" => args.iter().skip(2).any(|a| *a == "-1"),
            "killall5" => true,
            "pkill" | "killall" | "skill" => {
                args.iter().any(|a| *a == "-u" || a.starts_with("--user"))
            }
            _ => false,
        };
        if everything {
            self.finding(
                "system.kill_all",
                Risk::Critical,
                &[Flag::SystemDestruction, Flag::DangerousCommand],
                "signals every process of the user, the agent and the gateway included",
                span,
            );
        }
    }

    pub(super) fn systemctl(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        if args.iter().any(|a| {
            matches!(
                *a,
                "poweroff"
                    | "reboot"
                    | "halt"
                    | "kexec"
                    | "rescue"
                    | "emergency"
                    | "suspend"
                    | "hibernate"
            )
        }) {
            self.finding(
                "system.power",
                Risk::Critical,
                &[Flag::SystemDestruction, Flag::DangerousCommand],
                "stops or restarts the machine",
                span,
            );
        } else if args.iter().any(|a| a.contains("patchwork")) {
            self.finding(
                "self.kill",
                Risk::Critical,
                &[Flag::SelfProtection],
                "the agent may not stop or change the gateway's services",
                span,
            );
        } else if args
            .iter()
            .any(|a| matches!(*a, "enable" | "link" | "edit" | "set-property"))
        {
            self.finding(
                "persistence.service",
                Risk::Medium,
                &[Flag::Persistence],
                "installs a service that runs outside this session",
                span,
            );
        }
    }

    pub(super) fn docker(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        let sub: Vec<&str> = args
            .iter()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .copied()
            .collect();
        let destroys = matches!(
            sub.as_slice(),
            ["system", "prune", ..]
                | ["volume", "prune", ..]
                | ["volume", "rm", ..]
                | ["image", "prune", ..]
                | ["container", "prune", ..]
                | ["builder", "prune", ..]
                | ["network", "prune", ..]
        );
        if destroys {
            self.finding(
                "cloud.docker_prune",
                Risk::High,
                &[Flag::Destructive, Flag::CloudDestruction],
                "deletes containers, images or volumes (data in volumes is lost)",
                span,
            );
        }
        let privileged = args
            .iter()
            .any(|a| *a == "--privileged" || a.starts_with("--pid=host"))
            || args
                .windows(2)
                .any(|w| (w[0] == "-v" || w[0] == "--volume") && w[1].starts_with("/:"));
        if privileged {
            self.finding(
                "privilege.container",
                Risk::High,
                &[Flag::Privilege],
                "a privileged container or one that mounts / has full control of the host",
                span,
            );
        }
    }

    pub(super) fn cloud(&mut self, cmd: &Command, span: &str) {
        let name = cmd.name();
        let args = cmd.args();
        let words: Vec<&str> = args.iter().skip(1).copied().collect();
        let has = |w: &str| words.contains(&w);
        let destroys = match name {
            "kubectl" => has("delete") || has("drain") || (has("replace") && has("--force")),
            "helm" => has("uninstall") || has("delete"),
            "terraform" | "tofu" | "terragrunt" => {
                has("destroy") || (has("apply") && has("-destroy")) || has("state") && has("rm")
            }
            "pulumi" => has("destroy") || has("down"),
            "gsutil" => has("rm") || has("rb"),
            _ => {
                words.iter().any(|w| {
                    w.starts_with("delete")
                        || w.starts_with("terminate")
                        || *w == "rb"
                        || *w == "destroy"
                        || *w == "remove"
                }) || (has("rm") && (has("--recursive") || has("-r")))
            }
        };
        if destroys {
            self.finding(
                "cloud.destroy",
                Risk::High,
                &[Flag::CloudDestruction, Flag::Destructive],
                format!("`{name}` deletes cloud or cluster resources"),
                span,
            );
        }
    }

    pub(super) fn database(&mut self, cmd: &Command, span: &str) {
        let mut text: String = cmd.args().join(" ");
        if let Stdin::Text(t) = &cmd.stdin {
            text.push(' ');
            text.push_str(t);
        }
        let upper = text.to_ascii_uppercase();
        let squeezed: String = upper.split_whitespace().collect::<Vec<_>>().join(" ");
        let destroys = [
            "DROP DATABASE",
            "DROP SCHEMA",
            "DROP TABLE",
            "TRUNCATE ",
            "FLUSHALL",
            "FLUSHDB",
            "DROPDATABASE",
            "DROP USER",
        ]
        .iter()
        .any(|k| squeezed.contains(k))
            || (squeezed.contains("DELETE FROM") && !squeezed.contains("WHERE"));
        if destroys {
            self.finding(
                "cloud.database_destroy",
                Risk::High,
                &[Flag::CloudDestruction, Flag::Destructive],
                "destroys database contents (DROP, TRUNCATE, FLUSHALL or an unbounded DELETE)",
                span,
            );
        }
    }
}
