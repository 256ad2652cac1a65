//! The emulator process (moto server extended by `tests/emulator`) on its own loopback port,
//! its control endpoints, and the stack `template.yaml` deployed into it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::{json, Value};

use crate::{Seed, DR_REGION, PRIMARY_REGION, TIME_SCALE};

static INSTANCES: AtomicUsize = AtomicUsize::new(0);

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The compiled handler binary of a function crate (built by `cargo build --workspace`).
pub fn handler_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "handler binary {} is missing: run `cargo build --workspace` first (make test does)",
        path.display()
    );
    path
}

pub struct Emulator {
    child: Child,
    pub port: u16,
    pub endpoint: String,
    pub log_dir: PathBuf,
}

impl Emulator {
    /// Starts a fresh emulator and waits until it answers.
    pub fn start(test_name: &str) -> Emulator {
        Self::start_at(test_name, TIME_SCALE)
    }

    /// `start` with another time scale: e.g. where the SDK's own retry backoff, which runs in
    /// real time, must stay as small beside a function's (scaled) timeout as it is in AWS.
    pub fn start_at(test_name: &str, time_scale: &str) -> Emulator {
        let root = repo_root();
        let python = root.join(".venv/bin/python");
        assert!(
            python.is_file(),
            "{} is missing: run `make setup` to create the virtualenv with moto",
            python.display()
        );
        let n = INSTANCES.fetch_add(1, Ordering::SeqCst);
        let log_dir = root
            .join("target/emulator-logs")
            .join(format!("{test_name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&log_dir).expect("create emulator log dir");
        let mut child = Command::new(&python)
            .args([
                "-m",
                "backstop_emulator",
                "--port",
                "0",
                "--time-scale",
                time_scale,
            ])
            .arg("--log-dir")
            .arg(&log_dir)
            .current_dir(root.join("tests/emulator"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(log_dir.join("stderr.log")).expect("stderr log"),
            ))
            .spawn()
            .expect("start the emulator");

        let stdout = child.stdout.take().expect("emulator stdout");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = ready_tx.send(line);
        });
        let line = ready_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        let port: u16 = line
            .trim()
            .strip_prefix("BACKSTOP_EMULATOR_READY port=")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "the emulator did not start (got {line:?}); see {}",
                    log_dir.display()
                )
            });
        let emulator = Emulator {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            log_dir,
        };
        // Jobs take two AWS minutes in these tests (what they check does not depend on AWS's
        // 5-20 minutes); instances, status checks, attachments, DB availability and DNS
        // propagation keep the emulator's AWS-like defaults.
        let quick = json!({ "EBS": 120, "RDS": 120, "EFS": 120, "EC2": 120 });
        emulator.control(
            "POST",
            "durations",
            &json!({ "backup": quick, "copy": quick, "restore": quick }),
        );
        emulator
    }

    /// SDK configuration for `region`, pointed at this emulator with dummy credentials.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_backup::config::Credentials::new(
                "testing", "testing", None, None, "emulator",
            ))
            .load()
            .await
    }

    /// Calls a `/backstop/...` control endpoint; panics with the emulator's message on failure.
    pub fn control(&self, method: &str, route: &str, body: &Value) -> Value {
        let payload = body.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to emulator");
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .expect("set timeout");
        write!(
            stream,
            "{method} /backstop/{route} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        )
        .expect("send control request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read control response");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.split_whitespace().nth(1).unwrap_or("?");
        assert_eq!(status, "200", "control {method} {route} failed: {body}");
        serde_json::from_str(body).expect("control endpoints answer JSON")
    }

    /// Creates the primary-region workload and the DR network; returns their ids.
    pub fn seed(&self) -> Seed {
        let seeded = self.control(
            "POST",
            "seed",
            &json!({ "primaryRegion": PRIMARY_REGION, "drRegion": DR_REGION }),
        );
        serde_json::from_value(seeded).expect("the seed answers as tests/src/seed.rs reads it")
    }

    /// Adds faults (see tests/emulator/README.md); returns the fault report.
    pub fn inject(&self, faults: Value) -> Value {
        self.control("POST", "faults", &faults)
    }

    pub fn fault_report(&self) -> Value {
        self.control("GET", "faults", &json!({}))
    }

    /// Deploys the real `template.yaml` into the DR region as stack `backstop`, each function
    /// running its locally built handler binary with the template's own settings.
    pub fn deploy_stack(&self) -> Stack {
        self.deploy_stack_with(json!({}))
    }

    /// `deploy_stack` with template parameters (e.g. `{"FailoverAlarmNames": "a,b"}`). The
    /// seeded world has its DR vault already, so the stack uses it unless told otherwise.
    pub fn deploy_stack_with(&self, parameters: Value) -> Stack {
        let mut parameters = parameters;
        if parameters.get("CreateBackupVault").is_none() {
            parameters["CreateBackupVault"] = json!("false");
        }
        let deployed = self.deploy_template("template.yaml", DR_REGION, "backstop", parameters);
        Stack { deployed }
    }

    /// Deploys a template of the repository (path relative to its root) into `region`.
    pub fn deploy_template(
        &self,
        path: &str,
        region: &str,
        name: &str,
        parameters: Value,
    ) -> Value {
        self.deploy_template_in(None, path, region, name, parameters)
    }

    /// `deploy_template` into `account` (default: the emulator's default account, Backstop's).
    pub fn deploy_template_in(
        &self,
        account: Option<&str>,
        path: &str,
        region: &str,
        name: &str,
        parameters: Value,
    ) -> Value {
        let binary_dir = handler_binary("resolve-plan")
            .parent()
            .expect("the binaries' directory")
            .to_path_buf();
        self.control(
            "POST",
            "deploy",
            &json!({
                "template": repo_root().join(path),
                "region": region,
                "stackName": name,
                "parameters": parameters,
                "binaryDir": binary_dir,
                "account": account,
            }),
        )
    }
}

/// What `template.yaml` created in the emulator: its resources and outputs.
pub struct Stack {
    pub deployed: Value,
}

impl Stack {
    /// The deployed name of the function whose handler is `binary` (e.g. `resolve-plan`).
    pub fn function(&self, binary: &str) -> String {
        self.deployed["resources"]
            .as_object()
            .and_then(|resources| {
                resources
                    .values()
                    .find(|r| r["Binary"] == binary)
                    .and_then(|r| r["ref"].as_str())
            })
            .unwrap_or_else(|| panic!("the template deploys no function for handler {binary}"))
            .to_string()
    }

    pub fn output(&self, name: &str) -> String {
        self.deployed["outputs"][name]
            .as_str()
            .unwrap_or_else(|| panic!("the stack has no output {name}"))
            .to_string()
    }

    /// The recovery state machine's ARN.
    pub fn state_machine(&self) -> String {
        self.output("RecoveryStateMachineArn")
    }

    /// A part of an execution's stored state (`run`, `restore`, `launch`, `attach`) as the
    /// steps wrote it to the run-state bucket; `Null` when not written.
    pub async fn stored(&self, emulator: &Emulator, execution: &str, part: &str) -> Value {
        let s3 = s3_client(emulator).await;
        let object = s3
            .get_object()
            .bucket(self.output("RunStateBucketName"))
            .key(format!("state/{execution}/{part}.json"))
            .send()
            .await;
        match object {
            Ok(object) => {
                let bytes = object
                    .body
                    .collect()
                    .await
                    .expect("object body")
                    .into_bytes();
                serde_json::from_slice(&bytes).expect("stored state is JSON")
            }
            Err(_) => Value::Null,
        }
    }

    /// Overwrites a part of an execution's stored state (a test standing in for a lost write
    /// or an edited state).
    pub async fn store(&self, emulator: &Emulator, execution: &str, part: &str, value: &Value) {
        let key = format!("state/{execution}/{part}.json");
        self.put_object(emulator, &key, &value.to_string()).await;
    }

    /// Puts an object in the stack's run-state bucket (e.g. a plan under `plans/`).
    pub async fn put_object(&self, emulator: &Emulator, key: &str, body: &str) {
        s3_client(emulator)
            .await
            .put_object()
            .bucket(self.output("RunStateBucketName"))
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put the object");
    }
}

async fn s3_client(emulator: &Emulator) -> aws_sdk_s3::Client {
    let config = emulator.sdk_config(DR_REGION).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // SIGTERM lets the emulator stop its Lambda processes; SIGKILL only if it hangs.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
