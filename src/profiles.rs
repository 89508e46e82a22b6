//! The AWS config and credentials files as the AWS CLI reads them, rewritten for the SDK's parser
//! (docs/contract.md §6).
//!
//! The SDK's profile parser and botocore's (Python's `configparser`, under the AWS CLI) read some
//! files differently, and the SDK merges a profile's sections from both files where botocore keeps
//! them apart. Both the SDK and the cache identity are handed the text this module makes, so the
//! credentials are the ones the AWS CLI would use and the identity hashes what selects them:
//!
//! - [`as_the_cli_reads`]: a comment line is a comment even when indented (the SDK read an
//!   indented `# note` under a key as part of the key's value); a line is a continuation of the
//!   value above only when indented deeper than that value's key, so uniformly indented keys are
//!   keys (the SDK refused them); a UTF-8 byte-order mark is dropped (botocore refuses the file;
//!   Windows editors write one).
//! - [`botocore_precedence`]: within a profile botocore takes static keys from the credentials
//!   file, key and token together, before `login_session` and `credential_process`, and only then
//!   the config file's keys; `credential_source` without `role_arn` means nothing. The lines that
//!   botocore would never read are dropped, so the SDK's merged profile yields the same keys.

use std::collections::{BTreeMap, BTreeSet};

/// Whitespace as the SDK's profile parser knows it.
const WS: &[char] = &[' ', '\t'];

/// The properties of a profile that yield static credentials.
const STATIC_KEYS: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];

/// Which AWS file a text is: section names differ (`[profile x]` in the config file, `[x]` in
/// the credentials file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Config,
    Credentials,
}

/// `text` with the line structure botocore reads, in the syntax the SDK's parser reads that way,
/// line for line (a comment becomes a blank line).
pub fn as_the_cli_reads(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    // The indentation of the key whose value an indented line may continue.
    let mut key_indent: Option<usize> = None;
    for line in text.lines() {
        let body = line.trim_start();
        let indent = line.chars().count() - body.chars().count();
        let body = body.trim_end();
        // Blank, and comments blanked: the SDK's line numbers stay the file's.
        if body.is_empty() || body.starts_with(['#', ';']) {
            out.push('\n');
            continue;
        }
        if indent > 0 && key_indent.is_some_and(|k| indent > k) {
            out.push_str(line.trim_end());
        } else {
            key_indent = if body.starts_with('[') {
                None
            } else {
                Some(indent)
            };
            out.push_str(body);
        }
        out.push('\n');
    }
    out
}

/// One line of a file in the SDK's syntax (after [`as_the_cli_reads`]), as far as precedence
/// needs: the profile its section defines (if any) and the property it belongs to.
struct Line<'a> {
    text: &'a str,
    profile: Option<String>,
    key: Option<String>,
}

fn lines(text: &str, kind: FileKind) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut profile = None;
    let mut key = None;
    for text in text.lines() {
        if text.starts_with('[') {
            profile = section_profile(text, kind);
            key = None;
        } else if text.starts_with(WS) {
            // A continuation: it belongs to the key above (blank lines too).
        } else if text.trim_matches(WS).is_empty() || text.starts_with(['#', ';']) {
        } else {
            key = property_key(text);
        }
        out.push(Line {
            text,
            profile: profile.clone(),
            key: key.clone(),
        });
    }
    out
}

/// The part of a line before a comment (`#` or `;`, after whitespace when `need_space`), trimmed,
/// as the SDK's parser cuts it.
fn uncommented(line: &str, need_space: bool) -> &str {
    let line = line.trim_matches(WS);
    let mut prev_space = false;
    for (i, c) in line.char_indices() {
        if (c == '#' || c == ';') && (prev_space || !need_space) {
            return line[..i].trim_matches(WS);
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// The profile a section header names in a file of `kind`, by the SDK's rules: `[profile x]`
/// and `[default]` in the config file, `[x]` in the credentials file; anything else is not a
/// profile.
fn section_profile(line: &str, kind: FileKind) -> Option<String> {
    let inner = uncommented(line, false)
        .strip_prefix('[')?
        .strip_suffix(']')?
        .trim_matches(WS);
    match (inner.split_once(WS), kind) {
        (Some((prefix, name)), FileKind::Config) if prefix.trim() == "profile" => {
            Some(name.trim().to_owned())
        }
        (None, FileKind::Config) if inner == "default" => Some(inner.to_owned()),
        (None, FileKind::Credentials) => Some(inner.to_owned()),
        _ => None,
    }
}

/// The (lower-case) property name of a `key = value` line.
fn property_key(line: &str) -> Option<String> {
    let (k, _) = uncommented(line, true).split_once('=')?;
    Some(k.trim_matches(WS).to_ascii_lowercase())
}

/// Every profile's property names in a file.
fn keys_by_profile(lines: &[Line<'_>]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in lines {
        if let (Some(p), Some(k)) = (&l.profile, &l.key) {
            out.entry(p.clone()).or_default().insert(k.clone());
        }
    }
    out
}

/// The config and credentials texts (each already [`as_the_cli_reads`]) with the lines that
/// botocore's precedence never reads blanked (line numbers stay the file's).
pub fn botocore_precedence(config: &str, credentials: &str) -> (String, String) {
    let config_lines = lines(config, FileKind::Config);
    let credentials_lines = lines(credentials, FileKind::Credentials);
    let in_config = keys_by_profile(&config_lines);
    let in_credentials = keys_by_profile(&credentials_lines);
    let none = BTreeSet::new();
    let mut drop_config: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut drop_credentials: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for profile in in_config.keys().chain(in_credentials.keys()) {
        let c = in_config.get(profile).unwrap_or(&none);
        let k = in_credentials.get(profile).unwrap_or(&none);
        let mut from_config = Vec::new();
        let mut from_credentials = Vec::new();
        if k.contains("aws_access_key_id") {
            // The credentials file's key pair and token, before anything but a role, web
            // identity or SSO; never the config file's token with them.
            from_config.extend_from_slice(STATIC_KEYS);
            from_config.extend(["credential_process", "login_session"]);
            from_credentials.extend(["credential_process", "login_session"]);
        } else {
            // Without a key id there, botocore reads nothing static from the credentials file,
            // and a config file's secret or token without a key id is no key either.
            from_credentials.extend_from_slice(STATIC_KEYS);
            if !c.contains("aws_access_key_id") {
                from_config.extend_from_slice(STATIC_KEYS);
            }
        }
        if !c.contains("role_arn") && !k.contains("role_arn") {
            from_config.push("credential_source");
            from_credentials.push("credential_source");
        }
        drop_config.insert(profile, from_config);
        drop_credentials.insert(profile, from_credentials);
    }
    let keep = |lines: &[Line<'_>], drop: &BTreeMap<&str, Vec<&str>>| -> String {
        let mut out = String::new();
        for l in lines {
            let dropped = match (&l.profile, &l.key) {
                (Some(p), Some(k)) => drop
                    .get(p.as_str())
                    .is_some_and(|d| d.contains(&k.as_str())),
                _ => false,
            };
            if !dropped {
                out.push_str(l.text);
            }
            out.push('\n');
        }
        out
    };
    (
        keep(&config_lines, &drop_config),
        keep(&credentials_lines, &drop_credentials),
    )
}

/// Both files as the AWS CLI reads them, for the SDK and the identity: [`as_the_cli_reads`], then
/// [`botocore_precedence`].
pub fn for_the_sdk(config: &str, credentials: &str) -> (String, String) {
    botocore_precedence(&as_the_cli_reads(config), &as_the_cli_reads(credentials))
}

/// The value of `key` in `profile` as the SDK merges it (the credentials file's over the config
/// file's; the last line of a key wins), from texts that are already [`for_the_sdk`]'s. Only
/// single-line values.
pub fn property(config: &str, credentials: &str, profile: &str, key: &str) -> Option<String> {
    let value = |text: &str, kind: FileKind| {
        let mut found = None;
        for l in lines(text, kind) {
            if l.profile.as_deref() == Some(profile)
                && l.key.as_deref() == Some(key)
                && !l.text.starts_with(WS)
                && let Some((_, v)) = uncommented(l.text, true).split_once('=')
            {
                found = Some(v.trim_matches(WS).to_owned());
            }
        }
        found
    };
    value(credentials, FileKind::Credentials).or_else(|| value(config, FileKind::Config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indented_comments_are_comments_and_indented_keys_are_keys() {
        let text = "\u{feff}[default]\n    aws_access_key_id = A\n      # rotated\n    aws_secret_access_key = S\n  ; old\n[profile x]\ns3 =\n  max_concurrent_requests = 10\nregion = r\n";
        assert_eq!(
            as_the_cli_reads(text),
            "[default]\naws_access_key_id = A\n\naws_secret_access_key = S\n\n[profile x]\ns3 =\n  max_concurrent_requests = 10\nregion = r\n"
        );
        // A continuation stays one: deeper than its key.
        assert_eq!(
            as_the_cli_reads("[a]\n  k = v\n    more\n"),
            "[a]\nk = v\n    more\n"
        );
        // CR LF line ends and trailing blanks go; blank lines stay.
        assert_eq!(
            as_the_cli_reads("[a]\r\nk = v  \r\n\r\nj = w\r\n"),
            "[a]\nk = v\n\nj = w\n"
        );
    }

    #[test]
    fn credentials_file_keys_come_whole_and_before_processes() {
        let config = "[default]\naws_session_token = config-token\ncredential_process = /bin/x\nregion = r\n[profile dev]\naws_access_key_id = C\naws_secret_access_key = CS\naws_session_token = CT\n";
        let credentials = "[default]\naws_access_key_id = K\naws_secret_access_key = KS\n[dev]\naws_session_token = stray\n";
        let (c, k) = botocore_precedence(config, credentials);
        assert_eq!(
            c,
            "[default]\n\n\nregion = r\n[profile dev]\naws_access_key_id = C\naws_secret_access_key = CS\naws_session_token = CT\n"
        );
        assert_eq!(
            k,
            "[default]\naws_access_key_id = K\naws_secret_access_key = KS\n[dev]\n\n"
        );
    }

    #[test]
    fn credential_source_needs_a_role_and_other_sections_are_untouched() {
        let config = "[profile a]\ncredential_source = Environment\n[profile b]\nrole_arn = r\ncredential_source = Environment\n[sso-session s]\naws_session_token = kept\n[c]\naws_session_token = kept\n";
        let (c, _) = botocore_precedence(config, "");
        assert_eq!(
            c,
            "[profile a]\n\n[profile b]\nrole_arn = r\ncredential_source = Environment\n[sso-session s]\naws_session_token = kept\n[c]\naws_session_token = kept\n"
        );
    }

    #[test]
    fn section_names_follow_the_sdk() {
        assert_eq!(
            section_profile("[ profile  dev ] # x", FileKind::Config).as_deref(),
            Some("dev")
        );
        assert_eq!(
            section_profile("[default]", FileKind::Config).as_deref(),
            Some("default")
        );
        assert_eq!(section_profile("[dev]", FileKind::Config), None);
        assert_eq!(
            section_profile("[profile dev]", FileKind::Credentials),
            None
        );
        assert_eq!(
            section_profile("[dev]", FileKind::Credentials).as_deref(),
            Some("dev")
        );
        assert_eq!(
            property_key("AWS_Access_Key_ID=x # c").as_deref(),
            Some("aws_access_key_id")
        );
    }

    #[test]
    fn a_property_is_the_credentials_files_else_the_config_files() {
        let config = "[default]\nregion = us-east-1 # home\n[profile dev]\nregion=eu-west-1\nregion = eu-west-2\n";
        let credentials = "[dev]\nregion = ap-south-1\n";
        assert_eq!(
            property(config, "", "default", "region").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            property(config, "", "dev", "region").as_deref(),
            Some("eu-west-2")
        );
        assert_eq!(
            property(config, credentials, "dev", "region").as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(property(config, credentials, "ops", "region"), None);
    }
}
