//! Every fuzz target on stable, as part of `cargo test`: the checked-in corpus (seeds and the
//! inputs that once found a bug), then random inputs and random mutations of the corpus. A
//! panic in any of them fails the test with the input that caused it.

use std::fs;
use std::path::PathBuf;

use chanbind_fuzz::TARGETS;
use proptest::prelude::*;

/// The corpus of a target, as `cargo fuzz` keeps it: `corpus/<target>/*`.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| fs::read(path).expect("a corpus file"))
        .collect()
}

#[test]
fn every_target_has_a_corpus_and_passes_it() {
    for (name, target) in TARGETS {
        let inputs = corpus(name);
        assert!(!inputs.is_empty(), "{name} has no corpus");
        for input in inputs {
            target(&input);
        }
    }
}

/// One edit a fuzzer would make to an input.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, bits)| Edit::Flip(at, bits)),
        (
            any::<usize>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..8),
                prop::sample::select(vec![
                    b"%".to_vec(),
                    b"\r\n".to_vec(),
                    b"\"".to_vec(),
                    b"{".to_vec(),
                    b"__in".to_vec(),
                    b",".to_vec(),
                    b"&".to_vec(),
                    b"/".to_vec(),
                    b"ffffffffffffffffff".to_vec(),
                    b"\xff".to_vec(),
                    b"#".to_vec(),
                ]),
            ]
        )
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Edit::Remove(at, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut input: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = input.len();
        match edit {
            Edit::Flip(at, bits) if len > 0 => input[at % len] ^= bits,
            Edit::Flip(..) => {}
            Edit::Insert(at, bytes) => {
                let at = at % (len + 1);
                input.splice(at..at, bytes.iter().copied());
            }
            Edit::Remove(at, n) if len > 0 => {
                let at = at % len;
                input.drain(at..(at + n).min(len));
            }
            Edit::Remove(..) => {}
            Edit::Truncate(at) => input.truncate(at % (len + 1)),
        }
    }
    input
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_never_panic(target in 0..TARGETS.len(), input: Vec<u8>) {
        (TARGETS[target].1)(&input);
    }

    #[test]
    fn mutated_corpus_inputs_never_panic(
        target in 0..TARGETS.len(),
        pick: usize,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let (name, run) = TARGETS[target];
        let inputs = corpus(name);
        let input = apply(inputs[pick % inputs.len()].clone(), &edits);
        run(&input);
    }
}
