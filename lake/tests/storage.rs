//! What the commit protocol needs from storage (`src/storage.rs` lists it), checked on a local
//! folder and on a real HDFS (an Apache Hadoop NameNode and DataNode, `support::hdfs`). Also
//! what it must not rely on: OpenDAL's rename and write replace an existing file on both.

use lake::storage::{Publish, Storage};
use test_support::hdfs::LocalHdfs;

fn local() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::folder(dir.path()).unwrap();
    (dir, storage)
}

async fn write(storage: &Storage, path: &str, body: &[u8]) {
    storage.operator().write(path, body.to_vec()).await.unwrap();
}

async fn read(storage: &Storage, path: &str) -> Vec<u8> {
    storage.operator().read(path).await.unwrap().to_vec()
}

async fn exists(storage: &Storage, path: &str) -> bool {
    storage.operator().exists(path).await.unwrap()
}

async fn publish_moves_a_file_to_a_free_name_making_its_folders(storage: Storage) {
    write(&storage, "tmp/a", b"first\n").await;
    assert_eq!(
        storage.publish("tmp/a", "x/y/z/a.json").await.unwrap(),
        Publish::Published
    );
    assert_eq!(read(&storage, "x/y/z/a.json").await, b"first\n");
    assert!(!exists(&storage, "tmp/a").await, "the source name stays");
}

async fn publish_refuses_a_taken_name_and_changes_nothing(storage: Storage) {
    write(&storage, "tmp/b", b"second\n").await;
    write(&storage, "taken.json", b"already here\n").await;
    assert_eq!(
        storage.publish("tmp/b", "taken.json").await.unwrap(),
        Publish::TargetExists
    );
    assert_eq!(read(&storage, "taken.json").await, b"already here\n");
    assert_eq!(read(&storage, "tmp/b").await, b"second\n");
}

async fn publish_of_a_missing_file_changes_nothing(storage: Storage) {
    write(&storage, "kept.json", b"kept\n").await;
    assert_eq!(
        storage.publish("tmp/none", "kept.json").await.unwrap(),
        Publish::SourceMissing
    );
    assert_eq!(read(&storage, "kept.json").await, b"kept\n");
    assert_eq!(
        storage.publish("tmp/none", "new/place.json").await.unwrap(),
        Publish::SourceMissing
    );
    assert!(!exists(&storage, "new/place.json").await);
}

/// Eight members publish their own file under one name at once: one wins, whole.
async fn of_members_racing_for_one_name_exactly_one_publishes(storage: Storage) {
    let bodies: Vec<Vec<u8>> = (0..8)
        .map(|member| format!("member {member}\n").repeat(10_000).into_bytes())
        .collect();
    for (member, body) in bodies.iter().enumerate() {
        write(&storage, &format!("tmp/race.{member}"), body).await;
    }
    let races = (0..8).map(|member| {
        let storage = storage.clone();
        async move {
            storage
                .publish(
                    &format!("tmp/race.{member}"),
                    "log/00000000000000000007.json",
                )
                .await
                .unwrap()
        }
    });
    let outcomes = futures::future::join_all(races).await;
    let winners: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| **o == Publish::Published)
        .map(|(member, _)| member)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Publish::Published | Publish::TargetExists)),
        "{outcomes:?}"
    );
    assert_eq!(
        read(&storage, "log/00000000000000000007.json").await,
        bodies[winners[0]],
        "the name holds the winner's whole file"
    );
}

async fn a_listing_shows_what_was_published_before_it(storage: Storage) {
    for n in 0..20 {
        write(&storage, &format!("tmp/e{n}"), b"{}").await;
        storage
            .publish(&format!("tmp/e{n}"), &format!("listed/{n:03}.json"))
            .await
            .unwrap();
        let names: Vec<String> = storage
            .operator()
            .list("listed/")
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.metadata().is_file())
            .map(|e| e.name().to_owned())
            .collect();
        assert_eq!(names.len(), n + 1, "{names:?}");
        assert!(names.contains(&format!("{n:03}.json")));
    }
}

async fn a_file_written_in_chunks_and_closed_reads_back_whole(storage: Storage) {
    let line = b"{\"eventId\":\"0192\",\"colorName\":\"red\"}\n";
    let mut writer = storage.operator().writer("big/file.json").await.unwrap();
    let mut expected = Vec::new();
    for _ in 0..40 {
        let chunk = line.repeat(2_000);
        expected.extend_from_slice(&chunk);
        writer.write(chunk).await.unwrap();
    }
    writer.close().await.unwrap();
    assert_eq!(read(&storage, "big/file.json").await, expected);
}

async fn deleting_a_missing_file_succeeds(storage: Storage) {
    storage.operator().delete("never/was.json").await.unwrap();
    write(&storage, "once.json", b"x").await;
    storage.operator().delete("once.json").await.unwrap();
    storage.operator().delete("once.json").await.unwrap();
}

async fn only_an_empty_folder_is_removed(storage: Storage) {
    write(&storage, "t/dt=2026-01-01/hour=00/a.json", b"a").await;
    assert!(
        !storage
            .remove_empty_dir("t/dt=2026-01-01/hour=00/")
            .await
            .unwrap(),
        "a folder with a file stays"
    );
    assert_eq!(read(&storage, "t/dt=2026-01-01/hour=00/a.json").await, b"a");
    assert!(
        !storage.remove_empty_dir("t/dt=2026-01-01/").await.unwrap(),
        "a folder with a folder stays"
    );
    storage
        .operator()
        .delete("t/dt=2026-01-01/hour=00/a.json")
        .await
        .unwrap();
    assert!(
        storage
            .remove_empty_dir("t/dt=2026-01-01/hour=00/")
            .await
            .unwrap()
    );
    assert!(storage.remove_empty_dir("t/dt=2026-01-01/").await.unwrap());
    assert!(
        !storage.remove_empty_dir("t/dt=2026-01-01/").await.unwrap(),
        "gone"
    );
    // A publish into a removed folder makes it again.
    write(&storage, "tmp/c", b"c").await;
    assert_eq!(
        storage
            .publish("tmp/c", "t/dt=2026-01-01/hour=00/c.json")
            .await
            .unwrap(),
        Publish::Published
    );
    assert_eq!(read(&storage, "t/dt=2026-01-01/hour=00/c.json").await, b"c");
}

/// Why folders are not removed with OpenDAL: on HDFS its delete of a folder takes what is in it.
async fn opendal_delete_of_a_folder_is_recursive_on_hdfs_only(storage: Storage, on_hdfs: bool) {
    write(&storage, "full/a.json", b"a").await;
    let deleted = storage.operator().delete("full/").await;
    assert_eq!(
        !exists(&storage, "full/a.json").await,
        on_hdfs,
        "on HDFS the file goes with its folder ({deleted:?})"
    );
}

/// Why publishing is not done with OpenDAL: its rename and its write replace a file.
async fn opendal_rename_and_write_replace_an_existing_file(storage: Storage) {
    let op = storage.operator();
    write(&storage, "a.json", b"a").await;
    write(&storage, "b.json", b"b").await;
    op.rename("a.json", "b.json").await.unwrap();
    assert_eq!(read(&storage, "b.json").await, b"a", "rename replaced");
    write(&storage, "b.json", b"again").await;
    assert_eq!(read(&storage, "b.json").await, b"again", "write replaced");
}

/// What people asked to forget is readable by the pipeline's user only: a file written private
/// is 0600 in a folder that is 0700, and stays so when written again.
async fn a_private_file_is_readable_by_its_owner_only(storage: Storage) {
    let path = "select-color/_erasures/r1.json";
    storage.write_private(path, b"{}".to_vec()).await.unwrap();
    assert_eq!(storage.mode(path).await.unwrap(), 0o600);
    assert_eq!(
        storage.mode("select-color/_erasures/").await.unwrap(),
        0o700
    );
    storage
        .write_private(path, b"{\"again\":1}".to_vec())
        .await
        .unwrap();
    assert_eq!(storage.mode(path).await.unwrap(), 0o600);
    assert_eq!(read(&storage, path).await, b"{\"again\":1}");
}

#[tokio::test]
async fn on_a_folder_a_private_file_is_readable_by_its_owner_only() {
    let (_dir, storage) = local();
    a_private_file_is_readable_by_its_owner_only(storage).await;
}

#[tokio::test]
async fn on_a_folder_publish_moves_a_file_to_a_free_name_making_its_folders() {
    let (_dir, storage) = local();
    publish_moves_a_file_to_a_free_name_making_its_folders(storage).await;
}

#[tokio::test]
async fn on_a_folder_publish_refuses_a_taken_name_and_changes_nothing() {
    let (_dir, storage) = local();
    publish_refuses_a_taken_name_and_changes_nothing(storage).await;
}

#[tokio::test]
async fn on_a_folder_publish_of_a_missing_file_changes_nothing() {
    let (_dir, storage) = local();
    publish_of_a_missing_file_changes_nothing(storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_folder_of_members_racing_for_one_name_exactly_one_publishes() {
    let (_dir, storage) = local();
    for _ in 0..20 {
        let _ = storage.operator().delete_with("log/").recursive(true).await;
        of_members_racing_for_one_name_exactly_one_publishes(storage.clone()).await;
    }
}

#[tokio::test]
async fn on_a_folder_a_listing_shows_what_was_published_before_it() {
    let (_dir, storage) = local();
    a_listing_shows_what_was_published_before_it(storage).await;
}

#[tokio::test]
async fn on_a_folder_a_file_written_in_chunks_and_closed_reads_back_whole() {
    let (_dir, storage) = local();
    a_file_written_in_chunks_and_closed_reads_back_whole(storage).await;
}

#[tokio::test]
async fn on_a_folder_deleting_a_missing_file_succeeds() {
    let (_dir, storage) = local();
    deleting_a_missing_file_succeeds(storage).await;
}

#[tokio::test]
async fn on_a_folder_opendal_rename_and_write_replace_an_existing_file() {
    let (_dir, storage) = local();
    opendal_rename_and_write_replace_an_existing_file(storage).await;
}

#[tokio::test]
async fn on_a_folder_only_an_empty_folder_is_removed() {
    let (_dir, storage) = local();
    only_an_empty_folder_is_removed(storage.clone()).await;
    opendal_delete_of_a_folder_is_recursive_on_hdfs_only(storage, false).await;
}

/// Every need above on one real HDFS, each under a root of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs Java and Hadoop's jars: run scripts/test.sh"]
async fn on_hdfs_every_storage_need_holds() {
    let hdfs = LocalHdfs::start();
    let root = |case: &str| Storage::open(&hdfs.landing_url(&format!("/storage/{case}"))).unwrap();
    publish_moves_a_file_to_a_free_name_making_its_folders(root("publish")).await;
    publish_refuses_a_taken_name_and_changes_nothing(root("taken")).await;
    publish_of_a_missing_file_changes_nothing(root("missing")).await;
    for round in 0..5 {
        of_members_racing_for_one_name_exactly_one_publishes(root(&format!("race{round}"))).await;
    }
    a_listing_shows_what_was_published_before_it(root("listing")).await;
    a_file_written_in_chunks_and_closed_reads_back_whole(root("whole")).await;
    deleting_a_missing_file_succeeds(root("delete")).await;
    opendal_rename_and_write_replace_an_existing_file(root("opendal")).await;
    only_an_empty_folder_is_removed(root("folders")).await;
    opendal_delete_of_a_folder_is_recursive_on_hdfs_only(root("recursive"), true).await;
    a_private_file_is_readable_by_its_owner_only(root("private")).await;
}
