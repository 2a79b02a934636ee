//! Classification of `_bulk` answers recorded from an OpenSearch-compatible server
//! (osmem-server 0.1.6) for a request of three documents: one valid, one whose `timestamp` is
//! not a date, one with a field the strict mapping does not know.

use es_sink::response::{ItemOutcome, classify_items};

#[test]
fn a_recorded_mixed_answer_indexes_one_and_rejects_two_with_their_reasons() {
    let body = include_bytes!("fixtures/bulk-mixed-answer.json");
    let outcomes = classify_items(body, 3).unwrap();
    assert_eq!(
        outcomes[0],
        ItemOutcome::Indexed,
        "a replayed document is updated, which counts as indexed"
    );
    match &outcomes[1] {
        ItemOutcome::Reject {
            status: 400,
            reason,
        } => {
            assert!(reason.starts_with("mapper_parsing_exception:"), "{reason}");
            assert!(reason.contains("[timestamp]"), "{reason}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    match &outcomes[2] {
        ItemOutcome::Reject {
            status: 400,
            reason,
        } => {
            assert!(
                reason.starts_with("strict_dynamic_mapping_exception:"),
                "{reason}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}
