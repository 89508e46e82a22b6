//! docs/security.md: a failing fleet does not queue, shared or hostile places are not trusted, special
//! files never hang, the identity covers whole files, hostile API answers are bounded,
//! credential_process children die with the helper, and the small ones (list, registryIds).
//! (Outcomes only, never timings: a watchdog kills a hung run, which then fails its assertions.)

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::*;

const NOBODY: u32 = 65534;
const PREFIX: &str = "docker-credential-ecr-login: ";
/// What the Windows .exe under Wine names as the writer of a file whose Unix mode lets others
/// write (Wine's access list for a Unix mode: the owner, and Everyone for the "other" bits).
const EVERYONE: &str = "writable by Everyone";
/// ... and says of a file another uid owns (Wine shows that owner as ANONYMOUS LOGON).
const OTHER_OWNER: &str = "not by you";
/// A watchdog for runs that must not hang: far below the harness's 60 s.
const NO_HANG: Duration = Duration::from_secs(20);

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// True (and a note printed) when the test needs root and does not have it.
fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipped {test}: needs root (chown / another uid)");
    true
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn chmod(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().expect("mkfifo");
    assert!(st.success(), "mkfifo {}", p.display());
}

/// A private directory, as the helper would make it.
fn private_dir(p: &Path) {
    fs::create_dir_all(p).unwrap();
    chmod(p, 0o700);
}

fn not_found(out: &Output) -> bool {
    out.code == 1 && out.stdout == NOT_FOUND
}

/// The token entries (`tokens/*.json`) in the env's cache dir.
fn entries(env: &Env) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(env.cache_dir().join("tokens"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether the entry at `p` is a token scope's (`*.dkr.ecr.REGION...`: the token shared by every
/// account of the region) rather than a registry's.
fn is_scope_entry(p: &Path) -> bool {
    fs::read_to_string(p).is_ok_and(|t| t.contains("\"registry\":\"*"))
}

/// The one registry entry there is.
fn only_entry(env: &Env) -> PathBuf {
    let e: Vec<PathBuf> = entries(env)
        .into_iter()
        .filter(|p| !is_scope_entry(p))
        .collect();
    assert_eq!(e.len(), 1, "one entry: {e:?}");
    e[0].clone()
}

/// The one token scope entry there is (whose lock a fetch takes).
fn scope_entry(env: &Env) -> PathBuf {
    let e: Vec<PathBuf> = entries(env)
        .into_iter()
        .filter(|p| is_scope_entry(p))
        .collect();
    assert_eq!(e.len(), 1, "one scope entry: {e:?}");
    e[0].clone()
}

/// `YYYY-MM-DD` of today in UTC, as the log file is named.
fn utc_today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Howard Hinnant's civil_from_days.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn todays_log(env: &Env) -> PathBuf {
    env.cache_dir()
        .join("log")
        .join(format!("ecr-login.{}.log", utc_today()))
}

/// An env whose credentials come from `credential_process = <script>` (profile `proc`): a shell
/// script of `sh`, or for the Windows .exe a batch file of `cmd` (support::process_script).
fn process_env(fake: &Fake, sh: &str, cmd: &str) -> Env {
    let mut env = Env::new();
    let command = process_script(env.path(), sh, cmd);
    fs::create_dir_all(env.path().join(".aws")).unwrap();
    fs::write(
        env.path().join(".aws/config"),
        format!("[profile proc]\ncredential_process = {command}\n"),
    )
    .unwrap();
    env.set("AWS_PROFILE", "proc")
        .set("AWS_ENDPOINT_URL_ECR", &fake.url());
    env
}

/// `sleep N` in a batch file: ping waits a second between its N + 1 echoes.
fn cmd_sleep(secs: u32) -> String {
    format!("ping -n {} 127.0.0.1 >nul", secs + 1)
}

fn valid_process_json() -> String {
    format!(
        "echo '{{\"Version\":1,\"AccessKeyId\":\"AKIDPROCESS\",\"SecretAccessKey\":\"{SECRET_KEY}\"}}'\n"
    )
}

/// A process (not yet waited for) that is SIGKILLed and reaped on drop, even if a test fails.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Alive: in /proc and not a zombie.
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            // "pid (comm) S ...": the state follows the last ')'.
            let state = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next().unwrap_or('?'))
                .unwrap_or('?');
            state != 'Z' && state != 'X'
        }
    }
}

/// Exactly one stderr line, and it starts with `prefix`.
fn assert_one_line_starting(stderr: &str, prefix: &str) {
    assert!(
        stderr.ends_with('\n') && stderr.lines().count() == 1,
        "one stderr line: {stderr:?}"
    );
    assert!(stderr.starts_with(prefix), "{prefix:?} ...: {stderr:?}");
}

// ---------------------------------------------------------------------------------------------
// 1. A failing fleet must not queue behind the lock

#[test]
fn twenty_failing_cold_gets_share_one_api_call_and_its_cause() {
    let fake = Fake::start();
    fake.set_mode(Mode::SlowError(Duration::from_millis(1500)));
    let env = Env::with_fake(&fake);
    let start = Instant::now();
    let outs: Vec<Output> = thread::scope(|s| {
        let handles: Vec<_> = (0..20).map(|_| s.spawn(|| env.get(HOST))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(fake.calls(), 1, "one fetch, its failure shared");
    let first = &outs[0];
    assert!(
        first
            .stderr
            .starts_with(&format!("{PREFIX}{HOST}: AccessDeniedException")),
        "{}",
        first.stderr
    );
    for o in &outs {
        assert!(not_found(o), "{o:?}");
        assert_eq!(o.stderr, first.stderr, "the same cause for everyone");
    }

    // The record is the same identity's for a short while: a get right after is answered from
    // it (checked only while surely inside its 10 s, counted from the API's answer).
    fake.set_mode(Mode::Ok { lifetime: 43_200 });
    if start.elapsed() < Duration::from_secs(8) {
        let again = env.get(HOST);
        assert!(not_found(&again), "{again:?}");
        assert_eq!(again.stderr, first.stderr);
        assert_eq!(fake.calls(), 1, "answered from the recorded failure");
    } else {
        eprintln!("the burst took over 8 s: replay of the recorded failure not checked");
    }

    // Another identity in the same cache is not served that failure.
    let mut other = Env::with_fake(&fake);
    other
        .set("AWS_ECR_CACHE_DIR", &env.cache_dir().display().to_string())
        .set("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE2");
    let out = other.get(HOST);
    assert!(out.secret().starts_with("pw-AKIDEXAMPLE2-"), "{out:?}");
    assert_eq!(out.stderr, "");
}

#[test]
fn a_stopped_lock_holder_costs_a_waiter_one_fetch_budget_not_15_s() {
    let fake = Fake::start();
    // The holder's API call never returns in time.
    fake.set_mode(Mode::Slow(Duration::from_secs(60)));
    let mut env = Env::with_fake(&fake);
    // Credentials bound 1 s: the fetch budget is 1 + 4 + 1 = 6 s.
    env.set("AWS_ECR_CREDENTIALS_TIMEOUT", "1");
    let mut holder = env
        .command(&["get"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    holder
        .stdin
        .take()
        .unwrap()
        .write_all(HOST.as_bytes())
        .unwrap();
    let holder = Reaped(holder);
    let t = Instant::now();
    while fake.calls() == 0 && t.elapsed() < Duration::from_secs(20) {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        fake.calls(),
        1,
        "the holder is fetching (and holds the lock)"
    );
    signal(holder.0.id(), "STOP");
    fake.set_mode(Mode::Ok { lifetime: 43_200 });
    // Below the old fixed 15 s lock wait: killed there, the waiter fails.
    let out = env.get_for(HOST, Duration::from_secs(13));
    assert_ne!(
        out.code, -1,
        "the waiter waited out the stopped holder's lock"
    );
    assert_eq!(
        out.secret(),
        "pw-AKIDEXAMPLE1-2",
        "the waiter fetched itself"
    );
    drop(holder);
}

// ---------------------------------------------------------------------------------------------
// 2. A cache directory someone else controls is not trusted

/// A cached entry whose password is replaced by a planted one, then the cache made untrusted by
/// `spoil`: the planted token is not served, the API is, with one warning line naming the cache
/// dir and `reason_has`; the cache stays unused (and untouched) afterwards.
fn planted_entry_is_not_served(spoil: impl Fn(&Env), reason_has: &str) {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    assert_eq!(env.get(HOST).secret(), "pw-AKIDEXAMPLE1-1");
    let entry = only_entry(&env);
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&entry).unwrap()).unwrap();
    v["password"] = json!("planted-by-attacker");
    let planted = v.to_string();
    fs::write(&entry, &planted).unwrap();
    // Control: the planted entry is what a trusted cache serves.
    assert_eq!(env.get(HOST).secret(), "planted-by-attacker");
    spoil(&env);

    let out = env.get(HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-2", "from the API: {out:?}");
    let dir = shown(&env.cache_dir());
    assert_one_line_starting(
        &out.stderr,
        &format!("{PREFIX}warning: not using the cache {dir}"),
    );
    assert!(out.stderr.contains(reason_has), "{}", out.stderr);
    let out = env.get(HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-3", "the cache stays unused");
    assert_eq!(fs::read_to_string(&entry).unwrap(), planted, "nor written");
}

#[test]
fn a_cache_dir_owned_by_another_user_is_not_trusted() {
    if skip_unless_root("a_cache_dir_owned_by_another_user_is_not_trusted") {
        return;
    }
    planted_entry_is_not_served(
        |env| chown(env.cache_dir(), Some(NOBODY), Some(NOBODY)).unwrap(),
        unix_or_windows("65534", OTHER_OWNER),
    );
}

#[test]
fn a_world_writable_cache_dir_is_not_trusted() {
    planted_entry_is_not_served(
        |env| chmod(&env.cache_dir(), 0o777),
        unix_or_windows("777", EVERYONE),
    );
}

#[test]
fn a_tokens_dir_owned_by_another_user_is_not_trusted() {
    if skip_unless_root("a_tokens_dir_owned_by_another_user_is_not_trusted") {
        return;
    }
    planted_entry_is_not_served(
        |env| chown(env.cache_dir().join("tokens"), Some(NOBODY), Some(NOBODY)).unwrap(),
        unix_or_windows("65534", OTHER_OWNER),
    );
}

#[test]
fn a_group_writable_tokens_dir_is_not_trusted() {
    if unix_only(
        "group write bits (Windows has no group mode; Wine gives the Unix group no entry in the access list)",
    ) {
        return;
    }
    planted_entry_is_not_served(|env| chmod(&env.cache_dir().join("tokens"), 0o770), "770");
}

/// A settings file mapping HOST to a profile that does not exist (fatal if it were read) and
/// `evil.example.com` to HOST.
fn hostile_settings(path: &Path) {
    fs::write(
        path,
        json!({"registries": {
            HOST: {"profile": "no-such-profile"},
            "evil.example.com": {"registry": HOST}
        }})
        .to_string(),
    )
    .unwrap();
}

fn untrusted_settings_file_is_ignored(spoil: impl Fn(&Path), reason_has: &str) {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    let settings = env.path().join("settings.json");
    hostile_settings(&settings);
    chmod(&settings, 0o600);
    env.set("AWS_ECR_CONFIG", &settings.display().to_string());
    // Control: read, the file breaks the get.
    assert!(not_found(&env.get(HOST)));
    spoil(&settings);

    let out = env.get(HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1", "{out:?}");
    assert_one_line_starting(
        &out.stderr,
        &format!(
            "{PREFIX}warning: not using the settings file {}",
            shown(&settings)
        ),
    );
    assert!(out.stderr.contains(reason_has), "{}", out.stderr);
    let out = env.get("evil.example.com");
    assert!(not_found(&out), "{out:?}");
    assert_eq!(out.stderr, "", "non-ECR hosts stay silent");
    assert_eq!(fake.calls(), 1);
}

#[test]
fn a_world_writable_settings_file_is_ignored() {
    untrusted_settings_file_is_ignored(|p| chmod(p, 0o666), unix_or_windows("666", EVERYONE));
}

#[test]
fn a_settings_file_owned_by_another_user_is_ignored() {
    if skip_unless_root("a_settings_file_owned_by_another_user_is_ignored") {
        return;
    }
    untrusted_settings_file_is_ignored(
        |p| chown(p, Some(NOBODY), Some(NOBODY)).unwrap(),
        unix_or_windows("65534", OTHER_OWNER),
    );
}

/// Someone who can write the cache dir plants `config.json` sending `evil.example.com` the
/// victim's ECR token: nothing is mapped, nothing is fetched, nothing is said.
fn planted_config_json_maps_nothing(spoil: impl Fn(&Path)) {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    let dir = env.cache_dir();
    private_dir(&dir);
    fs::write(
        dir.join("config.json"),
        json!({"registries": {"evil.example.com": {"registry": HOST}}}).to_string(),
    )
    .unwrap();
    chmod(&dir.join("config.json"), 0o600);
    spoil(&dir);
    let out = env.get("evil.example.com");
    assert!(
        not_found(&out),
        "the token went to evil.example.com: {out:?}"
    );
    assert_eq!(out.stderr, "");
    assert_eq!(fake.calls(), 0);
}

#[test]
fn a_config_json_planted_in_a_world_writable_cache_dir_maps_nothing() {
    planted_config_json_maps_nothing(|dir| chmod(dir, 0o777));
}

#[test]
fn a_config_json_planted_in_another_users_cache_dir_maps_nothing() {
    if skip_unless_root("a_config_json_planted_in_another_users_cache_dir_maps_nothing") {
        return;
    }
    planted_config_json_maps_nothing(|dir| {
        chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
        chown(dir.join("config.json"), Some(NOBODY), Some(NOBODY)).unwrap();
    });
}

#[test]
fn a_symlink_at_todays_log_file_is_not_followed() {
    if unix_only(
        "a symbolic link made with std::os::unix (Wine 8 does not show Unix symlinks as reparse points)",
    ) {
        return;
    }
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    env.set("AWS_ECR_LOG_LEVEL", "debug");
    private_dir(&env.cache_dir().join("log"));
    let victim = env.path().join("victim.txt");
    fs::write(&victim, "the victim's file\n").unwrap();
    symlink(&victim, todays_log(&env)).unwrap();
    let out = env.get(HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1");
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "the victim's file\n",
        "appended through the symlink"
    );
}

#[test]
fn a_dangling_lock_symlink_does_not_create_its_target() {
    if unix_only(
        "a symbolic link made with std::os::unix (Wine 8 does not show Unix symlinks as reparse points)",
    ) {
        return;
    }
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    env.get(HOST).secret();
    let entry = only_entry(&env);
    // The lock of a fetch is the token scope's.
    let scope = scope_entry(&env);
    let lock = scope.with_extension("lock");
    fs::remove_file(&entry).unwrap();
    fs::remove_file(&scope).unwrap();
    let _ = fs::remove_file(&lock);
    let target = env.path().join("created-by-the-helper");
    symlink(&target, &lock).unwrap();
    let out = env.get(HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-2", "{out:?}");
    assert!(
        fs::symlink_metadata(&target).is_err(),
        "the lock symlink's target was created"
    );
}

#[test]
fn directories_the_helper_creates_are_0700_and_files_0600_whatever_the_umask() {
    if unix_only("modes and the umask") {
        return;
    }
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    let base = env.path().join("a");
    let dir = base.join("b/ecr");
    env.set("AWS_ECR_CACHE_DIR", &dir.display().to_string());
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "umask 000; exec \"$0\" get", helper_bin()])
        .env_clear()
        .envs(&env.vars);
    let out = run_command(cmd, HOST.as_bytes(), NO_HANG);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1");
    for d in [
        base.clone(),
        base.join("b"),
        dir.clone(),
        dir.join("tokens"),
        dir.join("log"),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    for sub in ["tokens", "log"] {
        for e in fs::read_dir(dir.join(sub)).unwrap().flatten() {
            assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
        }
    }
}

/// `env`'s command run as uid/gid 65534 (nobody).
fn run_as_nobody(env: &Env, host: &str) -> Output {
    let mut cmd = env.command(&["get"]);
    cmd.uid(NOBODY).gid(NOBODY);
    run_command(cmd, host.as_bytes(), NO_HANG)
}

#[test]
fn a_root_owned_home_used_by_another_user_degrades_to_no_cache() {
    if unix_only("running the helper as another uid") {
        return;
    }
    if skip_unless_root("a_root_owned_home_used_by_another_user_degrades_to_no_cache") {
        return;
    }
    // `sudo -u nobody` keeping HOME=/root: a root-owned, private HOME with a cache in it.
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    chmod(env.path(), 0o700);
    env.get(HOST).secret(); // root's own cache there
    let out = run_as_nobody(&env, HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-2", "{out:?}");
    let mut direct = Env::with_fake(&fake);
    direct.set("AWS_ECR_CACHE_DIR", &env.cache_dir().display().to_string());
    let out = run_as_nobody(&direct, HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-3", "{out:?}");
}

#[test]
fn a_chmod_000_cache_dir_of_ones_own_degrades_to_no_cache() {
    if unix_only("running the helper as another uid, mode 000") {
        return;
    }
    if skip_unless_root("a_chmod_000_cache_dir_of_ones_own_degrades_to_no_cache") {
        return;
    }
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    chmod(env.path(), 0o755);
    let home = env.path().join("home");
    let cache = home.join(".ecr");
    fs::create_dir_all(&cache).unwrap();
    for d in [&home, &cache] {
        chown(d, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    chmod(&home, 0o700);
    chmod(&cache, 0o000);
    env.set("HOME", &home.display().to_string());
    let out = run_as_nobody(&env, HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1", "{out:?}");
    let out = run_as_nobody(&env, HOST);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-2", "{out:?}");
    chmod(&cache, 0o700);
}

// ---------------------------------------------------------------------------------------------
// 3. Special files never hang, unreadable places degrade

#[test]
fn a_fifo_settings_file_never_hangs_and_non_ecr_hosts_stay_silent() {
    if unix_only("FIFOs (Wine opens one with ERROR_INVALID_PARAMETER, so it is never read either)")
    {
        return;
    }
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    private_dir(&env.cache_dir());
    let settings = env.cache_dir().join("config.json");
    mkfifo(&settings);
    let out = env.get_for(HOST, NO_HANG);
    assert!(not_found(&out), "{out:?}");
    assert_one_line_starting(&out.stderr, PREFIX);
    assert!(
        out.stderr.contains(&shown(&settings)) && out.stderr.contains("not a regular file"),
        "{}",
        out.stderr
    );
    let out = env.get_for("registry-1.docker.io", NO_HANG);
    assert!(not_found(&out), "{out:?}");
    assert_eq!(out.stderr, "");
    assert_eq!(fake.calls(), 0);
}

#[test]
fn a_fifo_token_entry_is_a_miss() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    env.get(HOST).secret();
    for entry in [only_entry(&env), scope_entry(&env)] {
        fs::remove_file(&entry).unwrap();
        mkfifo(&entry);
    }
    let out = env.get_for(HOST, NO_HANG);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-2", "{out:?}");
}

#[test]
fn a_fifo_at_todays_log_file_means_no_log() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    private_dir(&env.cache_dir().join("log"));
    mkfifo(&todays_log(&env));
    let out = env.get_for(HOST, NO_HANG);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1", "{out:?}");
    let out = env.get_for(HOST, NO_HANG);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1", "a hit: {out:?}");
}

#[test]
fn a_fifo_as_the_aws_config_or_credentials_file_is_absent_and_a_hit_stays_a_hit() {
    for var in ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"] {
        let fake = Fake::start();
        let mut env = Env::with_fake(&fake);
        let fifo = env.path().join("aws-file");
        mkfifo(&fifo);
        env.set(var, &fifo.display().to_string());
        let out = env.get_for(HOST, NO_HANG);
        assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1", "{var}: {out:?}");
        assert!(
            out.stderr.contains(&shown(&fifo)),
            "{var}: a line names it: {}",
            out.stderr
        );
        let out = env.get_for(HOST, NO_HANG);
        assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1", "{var}: a hit: {out:?}");
        assert_eq!(fake.calls(), 1, "{var}");
    }
}

#[test]
fn the_null_device_as_the_aws_files_is_no_file_and_no_warning() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    // The common way to say "no config file" (Windows: NUL).
    let null = unix_or_windows("/dev/null", "NUL");
    env.set("AWS_CONFIG_FILE", null)
        .set("AWS_SHARED_CREDENTIALS_FILE", null);
    let out = env.get_for(HOST, NO_HANG);
    assert_eq!(out.secret(), "pw-AKIDEXAMPLE1-1", "{out:?}");
    assert_eq!(out.stderr, "");
    env.set("AWS_ECR_DISABLE_CACHE", "1");
    let image = format!("{HOST}/app:1");
    let request = format!(
        r#"{{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"{image}"}}"#
    );
    let out = env.run(&["kubelet"], request.as_bytes());
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("pw-AKIDEXAMPLE1-2"), "{out:?}");
    assert_eq!(out.stderr, "");
}

/// Web identity credentials (no keys) from this token file.
fn web_identity_env(fake: &Fake, token_file: &Path) -> Env {
    let mut env = Env::new();
    env.set("AWS_ENDPOINT_URL_ECR", &fake.url())
        .set("AWS_ENDPOINT_URL_STS", &fake.url())
        .set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/ci")
        .set("AWS_ROLE_SESSION_NAME", "ci")
        .set(
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            &token_file.display().to_string(),
        );
    env
}

#[test]
fn a_fifo_web_identity_token_file_is_not_a_regular_file() {
    if unix_only("FIFOs (Wine opens one with ERROR_INVALID_PARAMETER, so it is never read either)")
    {
        return;
    }
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("token");
    mkfifo(&fifo);
    let env = web_identity_env(&fake, &fifo);
    let out = env.get_for(HOST, NO_HANG);
    assert!(not_found(&out), "{out:?}");
    assert!(
        out.stderr.contains(&shown(&fifo)) && out.stderr.contains("not a regular file"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.calls(), 0);
}

#[test]
fn a_missing_web_identity_token_file_is_named() {
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/token");
    let env = web_identity_env(&fake, &missing);
    let out = env.get_for(HOST, NO_HANG);
    assert!(not_found(&out), "{out:?}");
    assert!(out.stderr.contains(&shown(&missing)), "{}", out.stderr);
}

#[test]
fn a_fifo_ca_bundle_is_not_a_regular_file() {
    if unix_only("FIFOs (Wine opens one with ERROR_INVALID_PARAMETER, so it is never read either)")
    {
        return;
    }
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    let fifo = env.path().join("ca.pem");
    mkfifo(&fifo);
    env.set("AWS_CA_BUNDLE", &fifo.display().to_string());
    let out = env.get_for(HOST, NO_HANG);
    assert!(not_found(&out), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "AWS_CA_BUNDLE {}: not a regular file",
            fifo.display()
        )),
        "{}",
        out.stderr
    );
    assert_eq!(fake.calls(), 0);
}

#[test]
fn a_broken_settings_file_leaves_non_ecr_hosts_silent() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    private_dir(&env.cache_dir());
    fs::write(
        env.cache_dir().join("config.json"),
        "{\"registries\": {oops",
    )
    .unwrap();
    chmod(&env.cache_dir().join("config.json"), 0o600);
    let explicit = env.path().join("settings.json");
    fs::write(&explicit, "[1, 2").unwrap();
    chmod(&explicit, 0o600);
    for file in [None, Some(&explicit)] {
        if let Some(f) = file {
            env.set("AWS_ECR_CONFIG", &f.display().to_string());
        }
        for host in ["registry-1.docker.io", "registry.example.com", "ghcr.io"] {
            let out = env.get_for(host, NO_HANG);
            assert!(not_found(&out), "{host}: {out:?}");
            assert_eq!(out.stderr, "", "{host}");
        }
        // ECR hosts do hear about it.
        let out = env.get_for(HOST, NO_HANG);
        assert!(not_found(&out), "{out:?}");
        assert_one_line_starting(&out.stderr, PREFIX);
    }
    assert_eq!(fake.calls(), 0);
}

// ---------------------------------------------------------------------------------------------
// 4. The identity covers the whole configuration

#[test]
fn an_aws_file_over_1_mib_never_serves_another_keys_token() {
    // Filler profiles first, the profile used past the first MiB.
    let mut filler = String::new();
    let mut i = 0;
    while filler.len() < 1_200_000 {
        filler.push_str(&format!(
            "[filler{i}]\naws_access_key_id = AKIDFILLER{i:08}\naws_secret_access_key = {SECRET_KEY}\n"
        ));
        i += 1;
    }
    for (var, section) in [
        ("AWS_SHARED_CREDENTIALS_FILE", "[default]"),
        ("AWS_CONFIG_FILE", "[profile big]"),
    ] {
        let fake = Fake::start();
        let mut env = Env::new();
        let file = env.path().join("aws-file");
        env.set(var, &file.display().to_string())
            .set("AWS_ENDPOINT_URL_ECR", &fake.url());
        if section != "[default]" {
            env.set("AWS_PROFILE", "big");
        }
        let write = |key: &str| {
            fs::write(
                &file,
                format!(
                    "{filler}{section}\naws_access_key_id = {key}\naws_secret_access_key = {SECRET_KEY}\n"
                ),
            )
            .unwrap();
        };
        write("AKIDBIGFILEONE");
        let out = env.get(HOST);
        assert!(
            out.secret().starts_with("pw-AKIDBIGFILEONE-"),
            "{var}: {out:?}"
        );
        write("AKIDBIGFILETWO");
        let out = env.get(HOST);
        assert!(
            out.secret().starts_with("pw-AKIDBIGFILETWO-"),
            "{var}: the first key's token served under the second: {out:?}"
        );
        assert_eq!(fake.calls(), 2, "{var}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Hostile API answers are bounded

#[test]
fn a_1_gb_answer_is_refused_unread_and_not_cached() {
    let fake = Fake::start();
    fake.set_mode(Mode::Huge(1 << 30));
    let env = Env::with_fake(&fake);
    let out = env.get_for(HOST, Duration::from_secs(50));
    assert_ne!(out.code, -1, "the helper did not finish");
    assert!(not_found(&out), "{out:?}");
    assert!(out.stderr.contains("larger than"), "{}", out.stderr);
    assert!(fake.wait_huge_ended(1, Duration::from_secs(10)));
    let sent = fake.body_bytes_sent();
    assert!(
        sent < 100 << 20,
        "the helper read on: {sent} body bytes sent"
    );
    assert!(entries(&env).is_empty(), "nothing cached");
}

#[test]
fn an_expiry_of_1e300_is_clamped_to_12_hours() {
    let fake = Fake::start();
    fake.set_mode(Mode::ExpiresAt("1e300"));
    let env = Env::with_fake(&fake);
    assert_eq!(env.get(HOST).secret(), "pw-AKIDEXAMPLE1-1");
    let v: Value = serde_json::from_str(&fs::read_to_string(only_entry(&env)).unwrap()).unwrap();
    let fetched = v["fetched_at"].as_f64().expect("fetched_at");
    let expires = v["expires_at"].as_f64().expect("expires_at");
    assert!(
        expires - fetched <= 43_200.0 && expires > fetched,
        "lifetime {} s: {v}",
        expires - fetched
    );
}

#[test]
fn an_empty_password_is_a_broken_answer() {
    let fake = Fake::start();
    fake.set_mode(Mode::EmptyPassword);
    let env = Env::with_fake(&fake);
    let out = env.get(HOST);
    assert!(not_found(&out), "{out:?}");
    assert_one_line_starting(&out.stderr, &format!("{PREFIX}{HOST}: "));
    assert!(out.stderr.contains("empty password"), "{}", out.stderr);
    assert!(entries(&env).is_empty(), "nothing cached");
    let out = env.get("public.ecr.aws");
    assert!(not_found(&out), "{out:?}");
    assert!(out.stderr.contains("empty password"), "{}", out.stderr);
}

#[test]
fn control_characters_from_the_api_never_reach_the_terminal() {
    let fake = Fake::start();
    // ESC sequences (clear screen, set the window title), BEL, CR, LF, DEL, C1 CSI.
    fake.set_mode(Mode::Error(
        "AccessDeniedException",
        r"evil\u001b[2J\u001b]0;pwned\u0007 text\r\nFAKE: second line\u0000\u007f\u009b31m end",
    ));
    let env = Env::with_fake(&fake);
    let out = env.get(HOST);
    assert!(not_found(&out), "{out:?}");
    assert_one_line_starting(&out.stderr, &format!("{PREFIX}{HOST}: "));
    let line = out.stderr.strip_suffix('\n').unwrap();
    assert!(
        line.bytes().all(|b| b >= 0x20 && b != 0x7f) && !line.contains('\u{9b}'),
        "control characters in {line:?}"
    );
    assert!(
        line.contains("evil") && line.contains("second line") && line.contains("end"),
        "the message is still shown: {line:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. credential_process and its children

#[test]
fn a_hung_credential_process_and_its_grandchild_die_with_the_helper() {
    if windows_exe().is_some() {
        return windows_job_ends_the_credential_process_and_its_grandchild();
    }
    if under_qemu_user() {
        eprintln!(
            "skipped under qemu-user: it refuses PR_SET_CHILD_SUBREAPER (support::under_qemu_user)"
        );
        return;
    }
    let fake = Fake::start();
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The process (exec'd into a sleep) and a background grandchild. Its stderr (ours) and the
    // grandchild's stdio go elsewhere, so only the helper's own exit ends the run.
    let body = format!(
        "exec 2>/dev/null\nsleep 120 </dev/null >/dev/null 2>&1 &\necho $$ $! > {}.tmp\nmv {0}.tmp {0}\nexec sleep 120\n",
        pids.display()
    );
    let mut env = process_env(&fake, &body, "");
    env.set("AWS_ECR_CREDENTIALS_TIMEOUT", "1");
    let out = env.get_for(HOST, Duration::from_secs(40));
    let text = fs::read_to_string(&pids).unwrap_or_default();
    let ids: Vec<u32> = text
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    // Whatever happens, leave nothing running.
    struct KillAll(Vec<u32>);
    impl Drop for KillAll {
        fn drop(&mut self) {
            for p in &self.0 {
                signal(*p, "KILL");
            }
        }
    }
    let _cleanup = KillAll(ids.clone());
    assert_eq!(ids.len(), 2, "the process and its grandchild ran: {text:?}");
    assert!(not_found(&out), "{out:?}");
    let t = Instant::now();
    while ids.iter().any(|p| alive(*p)) && t.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(50));
    }
    for p in &ids {
        assert!(!alive(*p), "pid {p} outlived the helper");
    }
}

/// (COUNT, Linux pid) of the Windows programs Wine runs whose command line (Wine shows the Windows
/// one in /proc) is `ping -n COUNT ...`, for each COUNT in `counts`.
fn wine_pings(counts: &[u32]) -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_lowercase())
            .collect();
        // Wine names the program `C:\windows\system32\ping.exe` or just `ping`, as started.
        let program = args[0].rsplit(['\\', '/']).next().unwrap_or_default();
        if args.len() < 3 || program.trim_end_matches(".exe") != "ping" || args[1] != "-n" {
            continue;
        }
        if let Some(count) = counts.iter().find(|c| args[2] == c.to_string())
            && alive(pid)
        {
            found.push((*count, pid));
        }
    }
    found
}

/// The Windows form of the test above (children.rs: the helper's job object, killed when it
/// closes): the credential_process is a batch file that starts a background grandchild
/// (`start /b ping`) and then waits (`ping`); Wine runs each Windows program as a Linux process,
/// seen in /proc. Both must run while the helper waits, and be gone once it has given up.
fn windows_job_ends_the_credential_process_and_its_grandchild() {
    // Ping counts no other test uses, to tell these processes apart.
    const GRANDCHILD: u32 = 1117;
    const CHILD: u32 = 1118;
    let fake = Fake::start();
    let mut env = process_env(
        &fake,
        "",
        &format!(
            "start /b ping -n {GRANDCHILD} 127.0.0.1 <nul >nul 2>nul\nping -n {CHILD} 127.0.0.1 <nul >nul 2>nul"
        ),
    );
    env.set("AWS_ECR_CREDENTIALS_TIMEOUT", "10");
    // Watch /proc while the helper waits for its credential process.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut seen: Vec<(u32, u32)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for p in wine_pings(&[GRANDCHILD, CHILD]) {
                    if !seen.contains(&p) {
                        seen.push(p);
                    }
                }
                thread::sleep(Duration::from_millis(100));
            }
            seen
        })
    };
    let out = env.get_for(HOST, Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    // Whatever happens, leave nothing running.
    struct KillAll(Vec<u32>);
    impl Drop for KillAll {
        fn drop(&mut self) {
            for p in &self.0 {
                signal(*p, "KILL");
            }
        }
    }
    let _cleanup = KillAll(seen.iter().map(|(_, pid)| *pid).collect());
    assert!(not_found(&out), "{out:?}");
    for count in [GRANDCHILD, CHILD] {
        assert!(
            seen.iter().any(|(c, _)| *c == count),
            "ping -n {count} never ran while the helper waited: {seen:?}; {out:?}"
        );
    }
    let t = Instant::now();
    while seen.iter().any(|(_, p)| alive(*p)) && t.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(50));
    }
    for (count, pid) in &seen {
        assert!(
            !alive(*pid),
            "ping -n {count} (pid {pid}) outlived the helper"
        );
    }
}

#[test]
fn a_failing_credential_process_s_stderr_is_passed_through_not_quoted_or_logged() {
    let fake = Fake::start();
    let mut env = process_env(
        &fake,
        "echo 'SECRET-IN-STDERR: token sk-live-123' >&2\nexit 3\n",
        ">&2 echo SECRET-IN-STDERR: token sk-live-123\nexit /b 3",
    );
    env.set("AWS_ECR_LOG_LEVEL", "trace");
    let out = env.get_for(HOST, NO_HANG);
    assert!(not_found(&out), "{out:?}");
    let ours: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with(PREFIX))
        .collect();
    assert_eq!(ours.len(), 1, "one line of ours: {}", out.stderr);
    assert!(!ours[0].contains("SECRET-IN-STDERR"), "{}", ours[0]);
    // The platform's words for the status (Rust's ExitStatus: Windows says "exit code").
    let status = unix_or_windows("exit status: 3", "exit code: 3");
    assert!(ours[0].contains(status), "{}", ours[0]);
    assert!(
        out.stderr
            .lines()
            .any(|l| l == "SECRET-IN-STDERR: token sk-live-123"),
        "the child's own stderr passed through: {}",
        out.stderr
    );
    let log = env.log_text();
    assert!(!log.is_empty(), "the run is logged");
    assert!(!log.contains("SECRET-IN-STDERR"), "{log}");
    assert_eq!(fake.calls(), 0);
}

#[test]
fn aws_ecr_credentials_timeout_bounds_a_slow_credential_process() {
    let fake = Fake::start();
    let mut env = process_env(
        &fake,
        &format!("sleep 3\n{}", valid_process_json()),
        &format!("{}\necho {}", cmd_sleep(3), process_json("AKIDPROCESS")),
    );
    env.set("AWS_ECR_CREDENTIALS_TIMEOUT", "1");
    let out = env.get_for(HOST, NO_HANG);
    assert!(not_found(&out), "{out:?}");
    assert!(
        out.stderr.contains("took more than") && out.stderr.contains("AWS_ECR_CREDENTIALS_TIMEOUT"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.calls(), 0);

    // Own cache: the failure just recorded would answer for the same identity.
    let fake = Fake::start();
    let mut env = process_env(
        &fake,
        &format!("sleep 3\n{}", valid_process_json()),
        &format!("{}\necho {}", cmd_sleep(3), process_json("AKIDPROCESS")),
    );
    env.set("AWS_ECR_CREDENTIALS_TIMEOUT", "10");
    let out = env.get_for(HOST, Duration::from_secs(30));
    assert_eq!(out.secret(), "pw-AKIDPROCESS-1", "{out:?}");
}

#[test]
fn with_a_controlling_terminal_a_7_s_credential_process_is_waited_for() {
    if unix_only("a pseudo-terminal from script(1)") {
        return;
    }
    let fake = Fake::start();
    let mut env = process_env(&fake, &format!("sleep 7\n{}", valid_process_json()), "");
    env.set("SHELL", "/bin/sh");
    let outf = env.path().join("out");
    let errf = env.path().join("err");
    // `script` gives the helper a pseudo-terminal as its controlling terminal; stdin and
    // stdout stay a pipe and a file, as under docker.
    let inner = format!(
        "printf %s '{HOST}' | '{}' get > '{}' 2> '{}'",
        helper_bin(),
        outf.display(),
        errf.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &inner, "/dev/null"])
        .env_clear()
        .envs(&env.vars);
    let run = run_command(cmd, b"", Duration::from_secs(40));
    let out = Output {
        code: run.code,
        stdout: fs::read_to_string(&outf).unwrap_or_default(),
        stderr: fs::read_to_string(&errf).unwrap_or_default(),
    };
    assert_eq!(
        out.secret(),
        "pw-AKIDPROCESS-1",
        "{out:?} (script: {run:?})"
    );
}

#[test]
fn without_a_terminal_a_7_s_credential_process_is_abandoned() {
    if unix_only("setsid(1), a Unix session") {
        return;
    }
    let fake = Fake::start();
    let env = process_env(&fake, &format!("sleep 7\n{}", valid_process_json()), "");
    // A new session: no controlling terminal, even when the tests run in one.
    let mut cmd = Command::new("setsid");
    cmd.args(["-w", helper_bin(), "get"])
        .env_clear()
        .envs(&env.vars);
    let out = run_command(cmd, HOST.as_bytes(), Duration::from_secs(40));
    assert!(not_found(&out), "{out:?}");
    assert!(
        out.stderr.contains("took more than") && out.stderr.contains("AWS_ECR_CREDENTIALS_TIMEOUT"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.calls(), 0);
}

// ---------------------------------------------------------------------------------------------
// 7. Small ones

#[test]
fn list_answers_with_stdin_left_open() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    env.get(HOST).secret();
    let mut child = env
        .command(&["list"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open (and unwritten) until the helper is done.
    let stdin = child.stdin.take().unwrap();
    let out = wait_for(child, NO_HANG);
    drop(stdin);
    assert_eq!(out.code, 0, "{out:?}");
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v[format!("https://{HOST}")], "AWS", "{v}");
}

#[test]
fn registry_ids_are_sent_for_private_registries_only() {
    let fake = Fake::start();
    let env = Env::with_fake(&fake);
    env.get(HOST).secret();
    env.get("210987654321.dkr.ecr.eu-west-1.amazonaws.com")
        .secret();
    env.get("public.ecr.aws").secret();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    let body = |r: &Request| -> Value {
        if r.body.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&r.body).expect("JSON body")
        }
    };
    assert_eq!(
        body(&reqs[0])["registryIds"],
        json!(["123456789012"]),
        "{reqs:?}"
    );
    assert_eq!(
        body(&reqs[1])["registryIds"],
        json!(["210987654321"]),
        "{reqs:?}"
    );
    assert!(reqs[2].target.starts_with("SpencerFrontendService"));
    assert!(body(&reqs[2]).get("registryIds").is_none(), "{reqs:?}");
}

#[test]
fn doctor_shows_an_untrusted_cache_and_settings_file() {
    let fake = Fake::start();
    let mut env = Env::with_fake(&fake);
    let settings = env.path().join("settings.json");
    hostile_settings(&settings);
    chmod(&settings, 0o666);
    env.set("AWS_ECR_CONFIG", &settings.display().to_string());
    env.get(HOST).secret();
    chmod(&env.cache_dir(), 0o777);
    let out = env.run(&["doctor", HOST], b"");
    let cache_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("cache"))
        .unwrap_or_default();
    assert!(
        cache_line.contains("PROBLEM: not using the cache")
            && cache_line.contains(&shown(&env.cache_dir()))
            && cache_line.contains(unix_or_windows("777", EVERYONE)),
        "{}",
        out.stdout
    );
    let settings_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("settings"))
        .unwrap_or_default();
    assert!(
        settings_line.contains("not using the settings file")
            && settings_line.contains(unix_or_windows("666", EVERYONE)),
        "{}",
        out.stdout
    );
    // With the bad settings file ignored, the default chain answers.
    assert!(out.stdout.contains("token     OK"), "{}", out.stdout);
}
