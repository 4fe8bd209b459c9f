//! The README's "Choosing an adapter" code is `examples/src/adapters.rs`, which is built with
//! the examples: the README must show it verbatim, so what it shows compiles.

use std::path::Path;

#[test]
fn the_readme_shows_the_adapters_code_that_compiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    let source = std::fs::read_to_string(root.join("src/adapters.rs")).unwrap();
    let begin = "// README: begin\n";
    let code =
        &source[source.find(begin).unwrap() + begin.len()..source.find("// README: end").unwrap()];
    let section = &readme[readme.find("## Choosing an adapter").expect("the section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let fence = "```rust\n";
    let start = section.find(fence).expect("a rust block in the section") + fence.len();
    let shown = &section[start..start + section[start..].find("```").unwrap()];
    assert_eq!(
        shown, code,
        "README.md's \"Choosing an adapter\" block differs from examples/src/adapters.rs"
    );
}
