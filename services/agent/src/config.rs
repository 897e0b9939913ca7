//! The agent's one configuration: flags, each with an `OBUP_AGENT_*`
//! environment variable.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::HostPath;
use crate::{Error, Result};

/// `obup-agent`: the host agent of obup, one per OceanBase host.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "obup-agent", version, about)]
pub struct Config {
    /// Address to serve gRPC on; port 0 picks a free one.
    #[arg(long, env = "OBUP_AGENT_LISTEN", default_value = "0.0.0.0:2886")]
    pub listen: String,

    /// Where host paths live: `/` on a real host; a directory standing for
    /// a simulated host's filesystem in tests and `obup dev`.
    #[arg(long, env = "OBUP_AGENT_ROOT", default_value = "/")]
    pub root: PathBuf,

    /// The observer's home (host path). Every path a work item names must
    /// lie under it or under the upgrade dir.
    #[arg(
        long,
        env = "OBUP_AGENT_OBSERVER_HOME",
        default_value = "/home/admin/oceanbase"
    )]
    pub observer_home: String,

    /// Where packages are downloaded, unpacked and backed up (host path);
    /// default `<observer home>/upgrade`, as obshell's. Operations write and
    /// remove only below it.
    #[arg(long, env = "OBUP_AGENT_UPGRADE_DIR")]
    pub upgrade_dir: Option<String>,

    /// Where the journal of operations is kept (a real path, not under
    /// `--root`). One agent per state dir.
    #[arg(
        long,
        env = "OBUP_AGENT_STATE_DIR",
        default_value = "/var/lib/obup-agent"
    )]
    pub state_dir: PathBuf,

    /// The observer's SVR_IP, as the cluster knows it (reported in facts).
    #[arg(long, env = "OBUP_AGENT_SVR_IP", default_value = "")]
    pub svr_ip: String,

    /// The observer's RPC port: a stop waits until it is released.
    #[arg(long, env = "OBUP_AGENT_RPC_PORT", default_value_t = 2882)]
    pub rpc_port: u16,

    /// The observer's SQL port: a stop waits until it is released.
    #[arg(long, env = "OBUP_AGENT_SQL_PORT", default_value_t = 2881)]
    pub sql_port: u16,

    /// The Python that runs upgrade scripts (e.g. a virtualenv's with
    /// mysql-connector-python). Default: `python3`, or `python2`/`python`
    /// for scripts that only parse as Python 2.
    #[arg(long, env = "OBUP_AGENT_PYTHON")]
    pub python: Option<PathBuf>,

    /// This agent's certificate (PEM), for mutual TLS.
    #[arg(long, env = "OBUP_AGENT_TLS_CERT", requires_all = ["tls_key", "tls_client_ca"])]
    pub tls_cert: Option<PathBuf>,

    /// The private key of `--tls-cert` (PEM).
    #[arg(long, env = "OBUP_AGENT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// CA bundle (PEM) that client certificates must be signed by; clients
    /// without such a certificate are refused.
    #[arg(long, env = "OBUP_AGENT_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Serve without TLS. Only for tests and loopback dev mode: anyone who
    /// reaches the port can then stop the observer.
    #[arg(long, env = "OBUP_AGENT_PLAINTEXT", conflicts_with = "tls_cert")]
    pub plaintext: bool,

    /// CA (PEM) of the package store, for `https://` store URLs; the agent
    /// presents its own certificate to the store.
    #[arg(long, env = "OBUP_AGENT_STORE_CA")]
    pub store_ca: Option<PathBuf>,

    /// A file holding the token (a viewer's) the agent downloads packages
    /// with, for a package store that checks tokens.
    #[arg(long, env = "OBUP_AGENT_STORE_TOKEN_FILE")]
    pub store_token_file: Option<PathBuf>,

    /// Bandwidth limit of package downloads, bytes per second (0: none), so
    /// that a download does not starve the observer's own traffic.
    #[arg(long, env = "OBUP_AGENT_FETCH_BYTES_PER_SEC", default_value_t = 0)]
    pub fetch_bytes_per_sec: u64,

    /// Most decompressed bytes one unpack may write (the package store's
    /// bound against decompression bombs).
    #[arg(long, env = "OBUP_AGENT_MAX_UNPACKED_BYTES", default_value_t = 16 << 30)]
    pub max_unpacked_bytes: u64,

    /// How long a killed observer may take to disappear and release its
    /// ports (obshell tries 15 times 5 s apart).
    #[arg(long, env = "OBUP_AGENT_STOP_TIMEOUT_SECS", default_value_t = 75)]
    pub stop_timeout_secs: u64,

    /// How long a started observer may take to write a live pid.
    #[arg(long, env = "OBUP_AGENT_START_TIMEOUT_SECS", default_value_t = 60)]
    pub start_timeout_secs: u64,

    /// How long a cancelled script gets between SIGTERM and SIGKILL.
    #[arg(long, env = "OBUP_AGENT_SCRIPT_GRACE_SECS", default_value_t = 10)]
    pub script_grace_secs: u64,
}

impl Config {
    /// Defaults for tests and `obup dev`: plaintext on a free loopback
    /// port, host paths under `root`, the journal in `state_dir`.
    pub fn local(root: PathBuf, state_dir: PathBuf) -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            root,
            observer_home: "/home/admin/oceanbase".into(),
            upgrade_dir: None,
            state_dir,
            svr_ip: "127.0.0.1".into(),
            rpc_port: 2882,
            sql_port: 2881,
            python: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            plaintext: true,
            store_ca: None,
            store_token_file: None,
            fetch_bytes_per_sec: 0,
            max_unpacked_bytes: 16 << 30,
            stop_timeout_secs: 75,
            start_timeout_secs: 60,
            script_grace_secs: 10,
        }
    }

    pub fn home(&self) -> Result<HostPath> {
        HostPath::parse(&self.observer_home)
            .map_err(|e| Error::Config(format!("--observer-home {:?}: {e}", self.observer_home)))
    }

    pub fn upgrade_dir(&self) -> Result<HostPath> {
        match &self.upgrade_dir {
            Some(dir) => HostPath::parse(dir)
                .map_err(|e| Error::Config(format!("--upgrade-dir {dir:?}: {e}"))),
            None => self
                .home()?
                .join("upgrade")
                .map_err(|e| Error::Config(e.to_string())),
        }
    }

    /// Checks what clap cannot: host paths, and that TLS is either fully
    /// configured or explicitly off.
    pub fn validate(&self) -> Result<()> {
        let home = self.home()?;
        let upgrade = self.upgrade_dir()?;
        if home.as_str() == "/" || upgrade.as_str() == "/" {
            return Err(Error::Config(
                "neither the observer home nor the upgrade dir may be `/`".into(),
            ));
        }
        if upgrade.is_within(&home) && !upgrade.is_below(&home) {
            return Err(Error::Config(
                "the upgrade dir must not be the observer home itself".into(),
            ));
        }
        let given = [&self.tls_cert, &self.tls_key, &self.tls_client_ca]
            .iter()
            .filter(|f| f.is_some())
            .count();
        match (given, self.plaintext) {
            (3, false) | (0, true) => Ok(()),
            _ => Err(Error::Config(
                "give --tls-cert, --tls-key and --tls-client-ca (mutual TLS), or --plaintext"
                    .into(),
            )),
        }
    }

    pub fn stop_timeout(&self) -> Duration {
        Duration::from_secs(self.stop_timeout_secs)
    }

    pub fn start_timeout(&self) -> Duration {
        Duration::from_secs(self.start_timeout_secs)
    }

    pub fn script_grace(&self) -> Duration {
        Duration::from_secs(self.script_grace_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn tls_is_all_or_explicitly_nothing() {
        let base = ["obup-agent", "--state-dir", "/tmp/x"];
        let parse = |extra: &[&str]| Config::try_parse_from(base.iter().chain(extra));
        assert!(
            parse(&[]).unwrap().validate().is_err(),
            "no TLS, no --plaintext"
        );
        assert!(parse(&["--plaintext"]).unwrap().validate().is_ok());
        let tls = ["--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca"];
        assert!(parse(&tls).unwrap().validate().is_ok());
        assert!(
            parse(&["--tls-cert", "c"]).is_err(),
            "clap wants the key and CA too"
        );
        let mut both = tls.to_vec();
        both.push("--plaintext");
        assert!(parse(&both).is_err());
    }

    #[test]
    fn upgrade_dir_defaults_under_the_home() {
        let c = Config::local("/".into(), "/tmp".into());
        assert_eq!(
            c.upgrade_dir().unwrap().as_str(),
            "/home/admin/oceanbase/upgrade"
        );
        let mut bad = c.clone();
        bad.upgrade_dir = Some("/home/admin/oceanbase".into());
        assert!(bad.validate().is_err());
        bad.upgrade_dir = Some("relative".into());
        assert!(bad.validate().is_err());
    }
}
