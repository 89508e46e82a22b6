//! The YAML subset the kubelet's `CredentialProviderConfig` files are written in, read as JSON
//! values for `doctor --kubelet-config`: block maps and lists by indentation, `[a, b]` flow
//! lists, quoted or plain scalars, `#` comments. Anything fancier is an error. It reads text, it
//! touches nothing.

/// The YAML such files are written in, as JSON values: block maps and lists by indentation,
/// `[a, b]` flow lists, quoted or plain scalars, `#` comments. Anything fancier is an error.
pub fn parse(text: &str) -> Result<serde_json::Value, String> {
    // (indent, content) of every meaningful line; "- x" becomes a list marker plus its content.
    let mut lines: Vec<(usize, String)> = Vec::new();
    for raw in text.lines() {
        let no_comment = strip_comment(raw);
        if no_comment.trim().is_empty() || no_comment.trim() == "---" {
            continue;
        }
        let indent = no_comment.len() - no_comment.trim_start().len();
        lines.push((indent, no_comment.trim().to_owned()));
    }
    let mut pos = 0;
    let v = block(&lines, &mut pos, 0)?;
    if pos != lines.len() {
        return Err(format!("cannot read line {:?} as YAML", lines[pos].1));
    }
    Ok(v)
}

fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i == 0 || line[..i].ends_with(' ') => return &line[..i],
            _ => {}
        }
    }
    line
}

fn block(
    lines: &[(usize, String)],
    pos: &mut usize,
    min: usize,
) -> Result<serde_json::Value, String> {
    let Some((indent, first)) = lines.get(*pos) else {
        return Ok(serde_json::Value::Null);
    };
    let indent = *indent;
    if indent < min {
        return Ok(serde_json::Value::Null);
    }
    if first == "-" || first.starts_with("- ") {
        let mut list = Vec::new();
        while let Some((i, l)) = lines.get(*pos) {
            if *i != indent || !(l == "-" || l.starts_with("- ")) {
                break;
            }
            let rest = l[1..].trim_start().to_owned();
            if rest.is_empty() {
                *pos += 1;
                list.push(block(lines, pos, indent + 1)?);
            } else if key_value(&rest).is_some() {
                // A map item: its first key is on the dash line, the rest indented further.
                let item_indent = indent + (l.len() - rest.len());
                let mut sub = lines.to_vec();
                sub[*pos] = (item_indent, rest);
                let v = block(&sub, pos, item_indent)?;
                list.push(v);
            } else {
                *pos += 1;
                list.push(scalar(&rest)?);
            }
        }
        return Ok(serde_json::Value::Array(list));
    }
    let mut map = serde_json::Map::new();
    while let Some((i, l)) = lines.get(*pos) {
        if *i != indent {
            if *i > indent {
                return Err(format!("unexpected indentation at {l:?}"));
            }
            break;
        }
        let (k, v) = key_value(l).ok_or_else(|| format!("expected `key: value`, got {l:?}"))?;
        *pos += 1;
        let value = if v.is_empty() {
            match lines.get(*pos) {
                Some((next, _)) if *next > indent => block(lines, pos, indent + 1)?,
                // A list may sit at the key's own indentation.
                Some((next, l)) if *next == indent && l.starts_with('-') => {
                    block(lines, pos, indent)?
                }
                _ => serde_json::Value::Null,
            }
        } else {
            scalar(&v)?
        };
        map.insert(unquote(&k), value);
    }
    Ok(serde_json::Value::Object(map))
}

fn key_value(l: &str) -> Option<(String, String)> {
    let mut quote = None;
    for (i, c) in l.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') if i == 0 => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ':') if l[i + 1..].is_empty() || l[i + 1..].starts_with(' ') => {
                return Some((l[..i].trim().to_owned(), l[i + 1..].trim().to_owned()));
            }
            _ => {}
        }
    }
    None
}

fn scalar(s: &str) -> Result<serde_json::Value, String> {
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items = inner
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(|i| serde_json::Value::String(unquote(i)))
            .collect();
        return Ok(serde_json::Value::Array(items));
    }
    if s.starts_with('{') {
        // Flow maps are rare in these files; keep them as a marker object.
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    Ok(serde_json::Value::String(unquote(s)))
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return s[1..s.len() - 1].to_owned();
        }
    }
    s.to_owned()
}
