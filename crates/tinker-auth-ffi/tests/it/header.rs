//! `include/tinker_auth.h` is written by hand; this test keeps it in sync with
//! the crate's `src/*.rs` by parsing both and comparing every exported function
//! (name, return type, parameter names and types), every `TINKER_AUTH_*`
//! constant, the handle typedef and each `#[repr(C)]` struct's fields in order.
//! It reads text only.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

#[derive(Debug, PartialEq, Eq)]
struct Function {
    ret: String,
    params: Vec<(String, String)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Api {
    constants: BTreeMap<String, i64>,
    typedefs: BTreeMap<String, String>,
    structs: BTreeMap<String, Vec<(String, String)>>,
    functions: BTreeMap<String, Function>,
}

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Canonical spelling of a C type: single spaces, `*` as its own token.
fn canon(c_type: &str) -> String {
    c_type
        .replace('*', " * ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `TinkerAuthOptions` -> `tinker_auth_options`.
fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The C spelling of a Rust FFI type.
fn c_type_of(rust: &str) -> String {
    let rust = rust.trim();
    if let Some(rest) = rust.strip_prefix("*const ") {
        return canon(&format!("const {} *", c_type_of(rest)));
    }
    if let Some(rest) = rust.strip_prefix("*mut ") {
        return canon(&format!("{} *", c_type_of(rest)));
    }
    let base = match rust {
        "i32" => "int32_t".to_owned(),
        "u32" => "uint32_t".to_owned(),
        "u64" => "uint64_t".to_owned(),
        "i64" => "int64_t".to_owned(),
        "usize" => "size_t".to_owned(),
        "c_char" => "char".to_owned(),
        "()" => "void".to_owned(),
        other if other.starts_with("TinkerAuth") => snake(other),
        other => panic!("no C spelling known for Rust type `{other}`: extend c_type_of"),
    };
    canon(&base)
}

fn parse_int(text: &str) -> i64 {
    let t = text.trim().trim_start_matches('(').trim_end_matches(')');
    t.replace('_', "")
        .parse()
        .unwrap_or_else(|_| panic!("not an integer constant: `{text}`"))
}

/// Text between the `{` at or after `from` and its matching `}`.
fn braced(text: &str, from: usize) -> (usize, usize) {
    let open = from + text[from..].find('{').expect("an opening brace");
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return (open + 1, open + i);
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces")
}

fn rust_api(src: &str) -> Api {
    let mut api = Api::default();
    // Only declarations outside `mod tests`.
    let src = &src[..src.find("#[cfg(test)]").unwrap_or(src.len())];
    for line in src.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("pub const TINKER_AUTH_") {
            let (name, value) = rest.split_once(':').expect("a typed constant");
            let value = value
                .split_once('=')
                .expect("a value")
                .1
                .trim_end_matches(';');
            api.constants
                .insert(format!("TINKER_AUTH_{name}"), parse_int(value));
        }
        if let Some(rest) = line.strip_prefix("pub type ") {
            let (name, ty) = rest
                .trim_end_matches(';')
                .split_once('=')
                .expect("a type alias");
            api.typedefs.insert(snake(name.trim()), c_type_of(ty));
        }
    }
    let mut at = 0;
    while let Some(found) = src[at..].find("#[repr(C)]") {
        let start = at + found;
        let name_at =
            start + src[start..].find("pub struct ").expect("a struct") + "pub struct ".len();
        let name: String = src[name_at..]
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        let (open, close) = braced(src, name_at);
        let mut fields = Vec::new();
        for line in src[open..close].lines().map(str::trim) {
            let Some(field) = line.strip_prefix("pub ") else {
                continue;
            };
            let (fname, ty) = field
                .trim_end_matches(',')
                .split_once(':')
                .expect("a field");
            let ty = ty.trim();
            let (ty, array) = match ty.strip_prefix('[') {
                Some(arr) => {
                    let (elem, len) = arr.trim_end_matches(']').split_once(';').expect("an array");
                    (elem.trim(), format!("[{}]", len.trim()))
                }
                None => (ty, String::new()),
            };
            fields.push((format!("{}{array}", fname.trim()), c_type_of(ty)));
        }
        api.structs.insert(snake(&name), fields);
        at = close;
    }
    let mut at = 0;
    while let Some(found) = src[at..].find("#[no_mangle]") {
        let start = at + found;
        let fn_at = start
            + src[start..].find("extern \"C\" fn ").expect("an extern fn")
            + "extern \"C\" fn ".len();
        let body = fn_at + src[fn_at..].find('{').expect("a body");
        let signature = src[fn_at..body]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let (name, rest) = signature.split_once('(').expect("parameters");
        let (params, ret) = rest.rsplit_once(')').expect("closing parenthesis");
        let ret = ret.trim().strip_prefix("->").unwrap_or("()");
        let params = params
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (pname, ty) = p.split_once(':').expect("a typed parameter");
                (pname.trim().to_owned(), c_type_of(ty))
            })
            .collect();
        let function = Function {
            ret: c_type_of(ret),
            params,
        };
        assert!(api
            .functions
            .insert(name.trim().to_owned(), function)
            .is_none());
        at = body;
    }
    api
}

fn strip_c_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("an unterminated comment") + start + 2;
        out.push(' ');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `const char *base_url` -> (`base_url`, `const char *`).
fn c_decl(decl: &str) -> (String, String) {
    let decl = canon(decl);
    let (ty, name) = decl.rsplit_once(' ').expect("a type and a name");
    (name.to_owned(), ty.to_owned())
}

fn c_api(header: &str) -> Api {
    let mut api = Api::default();
    let text = strip_c_comments(header);
    let mut code = String::new();
    for line in text.lines() {
        let line = line.trim();
        let define = line.strip_prefix("#define TINKER_AUTH_");
        // `split_once` skips the include guard, which has no value.
        if let Some((name, value)) = define.and_then(|d| d.split_once(char::is_whitespace)) {
            api.constants
                .insert(format!("TINKER_AUTH_{name}"), parse_int(value));
        } else if line.starts_with('#') || line == "extern \"C\" {" || line == "}" {
            // Include guard, includes, C++ linkage.
        } else {
            code.push_str(line);
            code.push('\n');
        }
    }
    // Structs first, then cut them out so the rest splits on `;`.
    while let Some(start) = code.find("typedef struct") {
        let (open, close) = braced(&code, start);
        let end = close + code[close..].find(';').expect("a typedef name");
        let name = code[close + 1..end].trim().to_owned();
        let fields = code[open..close]
            .split(';')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(c_decl)
            .collect();
        api.structs.insert(name, fields);
        code.replace_range(start..=end, "");
    }
    for statement in code.split(';').map(|s| canon(s.trim())) {
        if statement.is_empty() {
            continue;
        }
        if let Some(typedef) = statement.strip_prefix("typedef ") {
            let (name, ty) = c_decl(typedef);
            api.typedefs.insert(name, ty);
            continue;
        }
        let (head, params) = statement
            .split_once('(')
            .unwrap_or_else(|| panic!("not a prototype: `{statement}`"));
        let (name, ret) = c_decl(head);
        let params = params.trim().trim_end_matches(')').trim();
        let params = if params == "void" {
            Vec::new()
        } else {
            params.split(',').map(c_decl).collect()
        };
        let function = Function { ret, params };
        assert!(api.functions.insert(name, function).is_none());
    }
    api
}

#[test]
fn header_matches_the_rust_declarations() {
    // The modules' declarations, each without its unit tests.
    let rust = rust_api(
        &["lib", "codes", "c_str", "options", "handles", "info"]
            .map(|m| {
                let text = read(&format!("src/{m}.rs"));
                let end = text.find("#[cfg(test)]").unwrap_or(text.len());
                text[..end].to_owned()
            })
            .concat(),
    );
    let c = c_api(&read("include/tinker_auth.h"));
    // Guard against a parser that silently finds nothing.
    assert!(rust.functions.len() >= 6, "{:#?}", rust.functions);
    assert!(rust.constants.len() >= 10, "{:#?}", rust.constants);
    assert_eq!(rust.structs.len(), 3, "{:#?}", rust.structs);
    assert_eq!(
        rust.constants, c.constants,
        "constants differ (left: Rust, right: header)"
    );
    assert_eq!(
        rust.typedefs, c.typedefs,
        "typedefs differ (left: Rust, right: header)"
    );
    assert_eq!(
        rust.structs, c.structs,
        "structs differ (left: Rust, right: header)"
    );
    for (name, f) in &rust.functions {
        assert_eq!(
            Some(f),
            c.functions.get(name),
            "function {name} (left: Rust, right: header)"
        );
    }
    for name in c.functions.keys() {
        assert!(
            rust.functions.contains_key(name),
            "{name} is declared in the header only"
        );
    }
}

#[test]
fn the_parsers_see_what_is_written() {
    let rust = rust_api(
        "#[repr(C)]\npub struct TinkerAuthX {\n    pub a: u32,\n    pub m: [c_char; N],\n}\n\
         pub const TINKER_AUTH_Y: i32 = -4;\n\
         #[no_mangle]\npub unsafe extern \"C\" fn f(\n    h: TinkerAuthHandle,\n    p: *mut c_char,\n) -> i32 {\n}\n",
    );
    let c = c_api(
        "/* c */\n#define TINKER_AUTH_Y (-4)\ntypedef struct tinker_auth_x {\n uint32_t a; /* x */\n char m[N];\n} tinker_auth_x;\n\
         int32_t f(tinker_auth_handle h, char *p);\n",
    );
    assert_eq!(rust, c);
    assert_eq!(
        c.functions["f"].params[1],
        ("p".to_owned(), "char *".to_owned())
    );
    let other = c_api("int32_t f(tinker_auth_handle h, const char *p);");
    assert_ne!(rust.functions, other.functions);
}

#[test]
fn header_states_the_librarys_default_base_url() {
    let header = read("include/tinker_auth.h");
    let joined = header.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains("base_url NULL: TINKER_BASE_URL, else"),
        "the header documents a NULL base_url"
    );
    assert!(
        header.contains(tinker_auth::DEFAULT_BASE_URL),
        "the header's default base URL is the library's: {}",
        tinker_auth::DEFAULT_BASE_URL
    );
}

#[test]
fn header_version_is_the_packages() {
    let c = c_api(&read("include/tinker_auth.h"));
    for (part, value) in [
        ("MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let name = format!("TINKER_AUTH_VERSION_{part}");
        assert_eq!(
            c.constants.get(&name).copied(),
            Some(value.parse::<i64>().expect("a numeric version part")),
            "{name} against Cargo.toml's version"
        );
    }
}
