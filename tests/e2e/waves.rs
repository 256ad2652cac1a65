//! Recovery waves: a plan's instances start in order (database, then app, then web), each
//! wave launched, attached and past its status checks before the next one launches, while
//! the restores all start at once. Checked on EC2's own launch times, not only on the report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use backstop_tests::{assert_succeeded, run_input, Scenario, TIME_SCALE};
use serde_json::{json, Value};

/// The seeded plan with three waves: `db` (1), `app` (2, the volumes and the DNS target),
/// `web` (3); listed out of order, as a plan may be.
pub(crate) fn three_wave_plan(scenario: &Scenario) -> Value {
    let mut plan = scenario.plan();
    let app = plan["instances"][0].clone();
    let wave = |name: &str, wave: u32| {
        let mut instance = app.clone();
        instance["name"] = json!(name);
        instance["wave"] = json!(wave);
        instance
    };
    plan["instances"] = json!([wave("web", 3), wave("app", 2), wave("db", 1)]);
    plan
}

/// Each instance of the run by plan name: (launch time in seconds, state).
pub(crate) async fn launched(scenario: &Scenario, run_id: &str) -> BTreeMap<String, (f64, String)> {
    scenario
        .instances_of_run(run_id)
        .await
        .iter()
        .map(|instance| {
            let name = instance
                .tags()
                .iter()
                .find(|t| t.key() == Some("backstop:instance"))
                .and_then(|t| t.value())
                .unwrap_or_default()
                .to_string();
            let state = instance
                .state()
                .and_then(|s| s.name())
                .map(|s| s.as_str().to_string());
            (
                name,
                (
                    instance.launch_time().unwrap().as_secs_f64(),
                    state.unwrap_or_default(),
                ),
            )
        })
        .collect()
}

/// The emulator's time for `aws_seconds` of AWS time, in real seconds.
fn emulated(aws_seconds: f64) -> f64 {
    aws_seconds * TIME_SCALE.parse::<f64>().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_wave_plan_launches_each_wave_once_the_one_before_is_healthy() {
    let scenario = Scenario::protected("waves").await;
    let plan = three_wave_plan(&scenario);
    let execution = scenario
        .run_to_end("waves-1", run_input("drill", &plan))
        .await;
    assert_succeeded(&execution);
    let report: Value = serde_json::from_str(execution.output().unwrap()).unwrap();

    // EC2's launch times: each wave after the one before passed its status checks (the
    // emulator's pending + status-check time, 180 AWS seconds), not merely after it ran
    let times = launched(&scenario, "waves-1").await;
    assert_eq!(times.len(), 3, "{times:?}");
    let gate = emulated(30.0 + 150.0);
    let (db, app, web) = (times["db"].0, times["app"].0, times["web"].0);
    assert!(
        app - db >= gate - 1.0,
        "app launched {:.1} s after db, before db was healthy ({gate:.1} s)",
        app - db
    );
    assert!(
        web - app >= gate - 1.0,
        "web launched {:.1} s after app, before app was healthy ({gate:.1} s)",
        web - app
    );
    // the restores did not wait for the waves: all started before the second wave launched
    let restore_started: Vec<f64> = scenario
        .restore_jobs()
        .await
        .iter()
        .filter_map(|job| job.creation_date().map(|d| d.as_secs_f64()))
        .collect();
    assert_eq!(restore_started.len(), 4, "{restore_started:?}");
    assert!(
        restore_started.iter().all(|started| *started <= app),
        "restores {restore_started:?}, app launched at {app}"
    );

    // the report's timeline shows each wave, in order, each starting after the one before ended
    let waves: Vec<&Value> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| step["step"].as_str().unwrap().starts_with("Wave "))
        .collect();
    let names: Vec<&str> = waves.iter().map(|w| w["step"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Wave 1 (db)", "Wave 2 (app)", "Wave 3 (web)"],
        "{:#}",
        report["timeline"]
    );
    for pair in waves.windows(2) {
        let ended = pair[0]["endedAt"]
            .as_str()
            .expect("an earlier wave has an end");
        let next_started = pair[1]["startedAt"].as_str().unwrap();
        assert!(
            ended <= next_started,
            "{} ended {ended}, {} started {next_started}",
            pair[0]["step"],
            pair[1]["step"]
        );
    }
    // the app's volumes went to the app, in wave 2; the drill tore down everything
    let attachments = scenario.stored("waves-1", "attach").await;
    let attached: Vec<&str> = attachments
        .as_array()
        .map(|a| a.iter().filter_map(|a| a["instance"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(attached, ["app", "app"], "{attachments:#}");
    assert_eq!(
        report["teardown"]["left"],
        json!([]),
        "{:#}",
        report["teardown"]
    );
    let states: Vec<&str> = times.values().map(|(_, state)| state.as_str()).collect();
    assert!(states.iter().all(|s| *s == "terminated"), "{times:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wave_that_fails_its_health_gate_stops_the_run_before_the_next_wave_launches() {
    let scenario = Scenario::protected("waves-unhealthy").await;
    let plan = three_wave_plan(&scenario);
    let execution = scenario.start("waves-2", run_input("drill", &plan)).await;

    // wave 1's database host stops once running (a bad boot), while the restores still run
    let started = Instant::now();
    let db = loop {
        let times = launched(&scenario, "waves-2").await;
        if times.get("db").is_some_and(|(_, state)| state == "running") {
            let instances = scenario.instances_of_run("waves-2").await;
            break instances[0].instance_id().unwrap().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "wave 1 never ran"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    scenario
        .dr
        .ec2
        .stop_instances()
        .instance_ids(&db)
        .send()
        .await
        .unwrap();

    let ended = scenario.ended(&execution, Duration::from_secs(300)).await;
    assert_eq!(ended.status().as_str(), "FAILED", "{ended:?}");
    let report: Value =
        serde_json::from_str(&scenario.evidence("runs/shop/waves-2/report.json").await).unwrap();
    // stopped after its launch saw it running: the gate before wave 2 fails; before that: the
    // launch does (it will not run by itself); either way the run names the instance
    let failure = report["failure"].to_string();
    assert!(
        failure.contains("db (")
            && (failure.contains("wave 2 not launched")
                || failure.contains("is stopped instead of running")),
        "{failure}"
    );
    // no later wave launched, and the drill tore down what it did launch
    let times = launched(&scenario, "waves-2").await;
    assert_eq!(times.keys().collect::<Vec<_>>(), ["db"], "{times:?}");
    assert_eq!(times["db"].1, "terminated", "{times:?}");
    assert_eq!(
        report["teardown"]["left"],
        json!([]),
        "{:#}",
        report["teardown"]
    );
}
