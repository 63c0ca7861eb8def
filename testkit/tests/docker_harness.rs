//! The Docker harness works end to end: a local image built without any registry, and a
//! container created, started, inspected and removed through bollard.

use bollard::{
    models::ContainerCreateBody,
    query_parameters::{
        CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
    },
};

#[tokio::test]
async fn builds_a_local_image_and_runs_a_container_through_bollard() {
    let docker = testkit::docker::connect().await;
    let image = testkit::docker::build_busybox_image(&docker).await;
    let name = format!("mcpo-test-{}", std::process::id());
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                image: Some(image.to_owned()),
                cmd: Some(vec!["/bin/busybox".into(), "sleep".into(), "30".into()]),
                labels: Some([("mcpo.test".to_owned(), "harness".to_owned())].into()),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    docker
        .start_container(&created.id, None)
        .await
        .expect("start");
    let info = docker
        .inspect_container(&created.id, None::<InspectContainerOptions>)
        .await
        .expect("inspect");
    let state = info.state.expect("state");
    assert_eq!(state.running, Some(true));
    assert_eq!(
        info.config.and_then(|c| c.labels).unwrap()["mcpo.test"],
        "harness"
    );

    docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
        .expect("remove");
    let gone = docker
        .inspect_container(&created.id, None::<InspectContainerOptions>)
        .await;
    assert!(gone.is_err(), "container still exists after remove");
}
