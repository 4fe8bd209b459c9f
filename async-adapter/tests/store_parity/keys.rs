//! Keys other than a generated integer `id`: UUIDs, text keys under their own column name,
//! and foreign keys pointing at them, answered alike by both stores.

use crate::support::*;
use chanbind_engine::binding::KeySource;

const AUTHORS: &str = "library.Author";
const BOOKS: &str = "library.Book";
const LOANS: &str = "library.Loan";

/// An author keyed by a UUID the database generates, a book keyed by its ISBN (text the
/// client gives, in a column called `isbn`), and loans keyed by integers under `loan_no`,
/// pointing at both.
pub(crate) fn library() -> Registry {
    let authors = ModelBinding::new("library_author")
        .key(Field::uuid("id"))
        .field(Field::string("name").required());
    let books = ModelBinding::new("library_book")
        .key(Field::string("isbn").max_length(17))
        .field(Field::string("title").required())
        .field(Field::foreign_key("author_id", AUTHORS).on_delete(OnDelete::SetNull))
        .search(["title"]);
    let loans = ModelBinding::new("library_loan")
        .key(Field::integer("loan_no"))
        .field(Field::foreign_key("book_isbn", BOOKS).on_delete(OnDelete::Cascade))
        // Not `book_isbn_rel`, the default for a key without `_id`.
        .relation("book_isbn", "book")
        .field(Field::string("reader"));
    (Registry::new().model(authors))
        .and_then(|r| r.model(books))
        .and_then(|r| r.model(loans))
        .expect("a valid registry")
}

const ANN: &str = "0b6e4a4e-95d6-4c3e-9a2b-1f0c2d3e4f50";
const BEN: &str = "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b";

#[tokio::test]
async fn uuid_and_text_keys_agree() {
    with_pair(library(), |p| async move {
        let all = Filter::everything;
        // Client-given UUIDs, in any case: both stores keep the canonical lower-case form.
        let ann = p
            .insert_key(AUTHORS, json!({"id": ANN.to_uppercase(), "name": "Ann"}))
            .await;
        assert_eq!(ann.to_json(), json!(ANN));
        p.insert_key(AUTHORS, json!({"id": BEN, "name": "Ben"}))
            .await;

        // Text keys, given under the key column's name or as `id`; rows carry both.
        let dune = p
            .insert_key(
                BOOKS,
                json!({"isbn": "978-0441172719", "title": "Dune", "author_id": ANN}),
            )
            .await;
        assert_eq!(dune.to_json(), json!("978-0441172719"));
        let Ok(StoreOutput::Row(Some(row))) = p.get(BOOKS, dune.clone(), all()).await else {
            panic!("the book is there")
        };
        assert_eq!(row["id"], json!("978-0441172719"));
        assert_eq!(row["isbn"], json!("978-0441172719"));
        assert_eq!(row["author_id"], json!(ANN));
        p.insert_key(
            BOOKS,
            json!({"id": "0-00-000000-0", "title": "Zero", "author_id": BEN}),
        )
        .await;
        // Keys with characters a path must escape still work as keys.
        p.insert_key(BOOKS, json!({"id": "a/b c?%", "title": "Odd"}))
            .await;

        // A taken key is a conflict on `id`, in both stores.
        let e = p
            .insert(BOOKS, json!({"isbn": "978-0441172719", "title": "Again"}))
            .await
            .unwrap_err();
        assert!(conflict_on(&e, "id"), "{e:?}");

        // A foreign key to a missing text key is refused alike.
        let e = p
            .insert(BOOKS, json!({"id": "x", "title": "Orphan", "author_id": "00000000-0000-0000-0000-000000000000"}))
            .await
            .unwrap_err();
        assert!(conflict_on(&e, "author_id"), "{e:?}");

        // Integer keys under another name, pointing at a text key.
        let loan = p
            .insert_key(LOANS, json!({"book_isbn": "978-0441172719", "reader": "r"}))
            .await;
        let Ok(StoreOutput::Row(Some(row))) = p.get(LOANS, loan.clone(), all()).await else {
            panic!("the loan is there")
        };
        assert_eq!(row["loan_no"], row["id"]);
        assert!(row["id"].is_i64());

        // Searches: by key lists, by the key's column name, ordered by text and UUID keys.
        for (filters, order) in [
            (json!({"id__in": ["0-00-000000-0", "978-0441172719", "nope"]}), json!("-id")),
            (json!({"isbn__startswith": "978"}), json!(null)),
            (json!({"author_id": ANN}), json!("title")),
            (json!({"author_id__isnull": true}), json!("isbn")),
            (json!({}), json!(["-author_id", "id"])),
        ] {
            p.search(BOOKS, &filters, None, &order, (0, 10)).await;
        }
        p.search(AUTHORS, &json!({"id__gt": ANN}), None, &json!("-id"), (0, 10))
            .await;
        p.search(AUTHORS, &json!({"id": BEN}), None, &json!(null), (0, 10))
            .await;

        // Updates address text keys; the key itself is not rewritten.
        p.update(BOOKS, dune.clone(), json!({"title": "Dune!"}), all())
            .await
            .expect("update by a text key");
        p.update(BOOKS, "missing", json!({"title": "x"}), all())
            .await
            .expect("update of a missing key");

        // Deleting the author sets the books' author to null; deleting a book cascades to
        // its loans: both stores report the same cascade.
        p.delete(AUTHORS, ann, all()).await.expect("delete the author");
        p.delete(BOOKS, dune, all()).await.expect("delete the book");
        p.get(LOANS, loan, all()).await.expect("the loan went with it");
    })
    .await;
}

#[tokio::test]
async fn generated_uuid_keys_are_canonical_in_both_stores() {
    with_pair(library(), |p| async move {
        let binding = p.binding(AUTHORS);
        assert_eq!(binding.key_source_kind(), KeySource::DatabaseOrClient);
        let values =
            validate_write(&binding, object(&json!({"name": "C"})), WriteMode::Create).unwrap();
        for store in [&p.memory as &dyn Store, &p.pg] {
            let op = StoreOp::Insert {
                binding: Arc::clone(&binding),
                values: values.clone(),
            };
            let Ok(StoreOutput::Changed(Some(change))) = store.execute(op).await else {
                panic!("{} inserts", store.kind())
            };
            let key = change.pk.to_json();
            let text = key.as_str().expect("a UUID key is a string");
            let parsed = uuid::Uuid::parse_str(text).expect("a UUID");
            assert_eq!(text, parsed.hyphenated().to_string(), "{}", store.kind());
            assert_eq!(change.new.as_ref().unwrap()["id"], key);
        }
    })
    .await;
}
