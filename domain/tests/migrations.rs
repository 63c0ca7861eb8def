//! Every migration has a working `down`: all ups, all downs, all ups again, on both engines.

use domain::{Database, DatabaseUrl, DbOptions};
use testkit::{TestDb, BACKENDS};

#[tokio::test]
async fn up_down_up_on_sqlite_and_postgres() {
    for backend in BACKENDS {
        let test_db = TestDb::new(backend).await;
        let db = Database::connect(
            &DatabaseUrl::parse(&test_db.url).unwrap(),
            &DbOptions::default(),
        )
        .await
        .unwrap();
        let all = db.migrations().await.unwrap();
        assert!(
            !all.is_empty() && all.iter().all(|(_, applied)| !applied),
            "{backend:?}: fresh database"
        );

        db.migrate_up().await.unwrap();
        assert!(db.migrations().await.unwrap().iter().all(|(_, a)| *a));
        let instance = domain::Instance::register(&db)
            .await
            .expect("schema usable after up");

        db.migrate_down(None).await.unwrap();
        assert!(
            db.migrations().await.unwrap().iter().all(|(_, a)| !a),
            "{backend:?}: all rolled back"
        );
        assert!(
            domain::Instance::register(&db).await.is_err(),
            "{backend:?}: tables gone after down"
        );

        db.migrate_up().await.unwrap();
        assert!(db.migrations().await.unwrap().iter().all(|(_, a)| *a));
        let again = domain::Instance::register(&db).await.unwrap();
        assert_ne!(instance.id, again.id);
        db.close().await;
    }
}

#[tokio::test]
async fn sqlite_runs_with_wal_foreign_keys_and_busy_timeout() {
    use sea_orm::{ConnectionTrait, Statement};
    let test_db = TestDb::new(testkit::Backend::Sqlite).await;
    let db = Database::connect(
        &DatabaseUrl::parse(&test_db.url).unwrap(),
        &DbOptions::default(),
    )
    .await
    .unwrap();
    let pragma = |name: &'static str| {
        let conn = db.conn.clone();
        async move {
            let row = conn
                .query_one(Statement::from_string(
                    conn.get_database_backend(),
                    format!("PRAGMA {name}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                .unwrap()
        }
    };
    assert_eq!(pragma("journal_mode").await, "wal");
    assert_eq!(pragma("foreign_keys").await, "1");
    assert_eq!(pragma("busy_timeout").await, "5000");
}
