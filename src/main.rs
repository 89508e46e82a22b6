//! The executable: reads the arguments, the environment, the clock and stdio once, and hands them
//! to the library. See `lib.rs` for the protocol.

use std::process::ExitCode;
use std::time::SystemTime;

use docker_credential_ecr_login::config::Config;
use docker_credential_ecr_login::ecr::Aws;
use docker_credential_ecr_login::{files, kubelet, logging, run};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // Installed (linked) as `ecr-credential-provider`, the binary is the kubelet's provider: the
    // kubelet runs the file named like the provider in its config, with arguments of its own (on
    // Windows `ecr-credential-provider.exe`, which its exec.LookPath finds for that name).
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let name = files::program_name(std::path::Path::new(&argv0));
    // A background refresh (`helper.rs`) runs this file with its internal action, whatever the
    // file is called.
    let internal = args
        .first()
        .is_some_and(|a| a == docker_credential_ecr_login::helper::REFRESH_ACTION);
    if !internal && name.is_some_and(|n| n == kubelet::PROVIDER_NAME) {
        args.insert(0, kubelet::ACTION.to_owned());
    }
    // The one place the process environment is read (clippy.toml forbids it elsewhere).
    #[allow(clippy::disallowed_methods)]
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // The home directory: HOME, else the password database (containers running as arbitrary
    // UIDs), as `directories` decides it; on Windows USERPROFILE first (`files::home_override`).
    let home = files::home_override(&env)
        .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()));
    let mut config = Config::from_lookup(env, home);
    // A controlling terminal (Windows: a console) means someone may answer a credential prompt
    // (config.rs).
    config.interactive = files::has_terminal();
    config.stdout_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    config.can_spawn_refresher = true;
    config.root = files::is_root();
    let now = SystemTime::now();
    logging::init(&config, now);
    let _span = tracing::info_span!("run", pid = std::process::id()).entered();
    run(
        &args,
        &config,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        now,
        &Aws { config: &config },
    )
}
