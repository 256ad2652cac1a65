//! A run: one Step Functions execution of a failover or a drill.

use std::fmt;

use serde::{Deserialize, Serialize};

use serde_json::Value;

use super::time::parse_time_field;
use crate::error::BackstopError;
use crate::model::jobs::RestoreItem;
use crate::plan::{Approval, FailoverSettings, Plan, RecoverInto, MAX_RESOURCES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// The real thing: restores, launches and switches production DNS.
    Failover,
    /// A rehearsal in isolation: never writes production DNS, cleans up after itself.
    Drill,
    /// The way home after a failover: the DR side's data backed up and copied to the primary
    /// region, restored there, production DNS switched back, then the failover retired.
    Failback,
}

impl Mode {
    /// Serves production: writes production records and keeps what it creates (a failover
    /// or a failback; not a drill).
    pub fn is_production(self) -> bool {
        matches!(self, Mode::Failover | Mode::Failback)
    }

    pub fn is_drill(self) -> bool {
        self == Mode::Drill
    }

    /// The account a run of this mode recovers in when it is not Backstop's own: the plan's
    /// `recoverInto`, for a failover only (a drill, a failback and their drills recover in
    /// Backstop's account, so a rehearsal never creates anything in production's).
    pub fn recovers_into(self, plan: &Plan) -> Option<&RecoverInto> {
        plan.recover_into
            .as_ref()
            .filter(|_| self == Mode::Failover)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Failover => "failover",
            Mode::Drill => "drill",
            Mode::Failback => "failback",
        })
    }
}

/// Where this Backstop is deployed: its region, and the plan parameter the stack was given
/// (the only plan a failover reads). From the stack's settings (`aws::Settings::site`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackSite {
    pub region: String,
    pub plan_parameter: Option<String>,
}

/// The run id is the Step Functions execution name; idempotency tokens and tags derive from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(String);

impl RunId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RunId {
    type Error = BackstopError;

    /// The rules of a Step Functions execution name (1-80 characters; no whitespace, brackets,
    /// wildcards, control characters or the punctuation in `FORBIDDEN`; other Unicode is
    /// allowed), so any execution name is a valid run id. Tokens and identifiers never
    /// embed it raw: they derive from its digest.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
        let length = value.chars().count();
        let bad = value
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(*c));
        if (1..=80).contains(&length) && bad.is_none() {
            return Ok(RunId(value));
        }
        let why = match bad {
            Some(c) => format!("it contains {c:?}"),
            None => format!("it has {length} characters"),
        };
        Err(BackstopError::invalid_input(
            "runId",
            format!(
                "\"{}\" is not a valid run id ({why}); use the execution name: 1-80 characters, no whitespace, brackets, wildcards or punctuation such as : / ; ,",
                crate::error::truncate_chars(&value, 100)
            ),
        ))
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> Self {
        id.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The pause before a failover's DNS switch, when the plan asks for an operator's approval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalGate {
    pub required: bool,
    /// No answer within this is a rejection (Step Functions' task timeout).
    pub timeout_seconds: u64,
}

impl ApprovalGate {
    /// Whether `answer` (the operator's task output) lets the DNS switch go ahead: anything
    /// passes an ungated run; a gated one needs `true` or `{"approved": true}`.
    pub fn let_through(&self, answer: Option<&Value>) -> Result<(), BackstopError> {
        let approved = match answer {
            Some(Value::Bool(yes)) => *yes,
            Some(answer) => answer.get("approved") == Some(&Value::Bool(true)),
            None => false,
        };
        if self.required && !approved {
            return Err(BackstopError::Conflict(
                "the plan asks for an operator's approval before the DNS switch and this run has none: production DNS is left as it is; resume the run to ask again".into(),
            ));
        }
        Ok(())
    }

    /// A failover or failback whose plan asks for approval waits; a drill never does.
    pub fn for_run(plan: &Plan, mode: Mode) -> ApprovalGate {
        let settings = plan.failover.clone().unwrap_or_default();
        if !mode.is_production() || settings.approval != Approval::Operator {
            return ApprovalGate::default();
        }
        let minutes = settings
            .approval_timeout_minutes
            .unwrap_or(FailoverSettings::DEFAULT_APPROVAL_TIMEOUT_MINUTES);
        ApprovalGate {
            required: true,
            timeout_seconds: u64::from(minutes) * 60,
        }
    }
}

/// How the run paces itself; the defaults suit AWS, tests shorten the poll interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunSettings {
    #[serde(default = "RunSettings::default_poll_interval")]
    pub poll_interval_seconds: u32,
    /// Restores running at once. Default: every restore the plan holds (no cap). AWS Backup
    /// sets no quota on concurrent restore jobs of the kinds Backstop restores, and every
    /// restored resource exists at the end whatever the pace, so a cap only lengthens the RTO;
    /// a plan that wants to pace its restores sets one.
    #[serde(default = "RunSettings::default_max_concurrent_restores")]
    pub max_concurrent_restores: u32,
    /// The run's bound; past it the run ends with `Backstop.Timeout` naming what was pending.
    /// Default: twice the plan's RTO, at least 30 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_minutes: Option<u32>,
}

impl RunSettings {
    fn default_poll_interval() -> u32 {
        30
    }
    fn default_max_concurrent_restores() -> u32 {
        MAX_RESOURCES as u32
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            poll_interval_seconds: Self::default_poll_interval(),
            max_concurrent_restores: Self::default_max_concurrent_restores(),
            run_timeout_minutes: None,
        }
    }
}

/// The resolved run: what every later step reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedRun {
    pub run_id: RunId,
    pub mode: Mode,
    pub plan: Plan,
    pub point_in_time: String,
    pub settings: RunSettings,
    pub restores: Vec<RestoreItem>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// RFC 3339; when the run began (its restore jobs are created after it).
    pub started_at: String,
    /// RFC 3339; the run's bound (see `RunSettings::run_timeout_minutes`).
    pub deadline: String,
    /// This execution resumes the run `run_id` (an earlier execution).
    #[serde(default)]
    pub resumed: bool,
    /// Whether the run pauses for an operator before switching DNS.
    #[serde(default)]
    pub approval: ApprovalGate,
    /// What started the run (an alarm, a copy), from the execution input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<serde_json::Map<String, Value>>,
    /// A failback: the failover it brings home, and when that failover is retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<FailbackOf>,
    /// A failback's capture rounds before it was resolved, in the same execution's history
    /// (`model::rounds`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub capture_rounds: u32,
}

pub(crate) fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What a failback carries besides its plan (which is the failover's, swapped to the primary
/// region): the state machine retires the failover after the soak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailbackOf {
    /// The failover it brings home; its DR resources are retired once production is home.
    /// None: a drill of the way home (from the DR vault's copies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_run_id: Option<RunId>,
    /// How long production runs at home, healthy, before the failover's DR side is deleted.
    pub retire_after_seconds: u64,
}

#[cfg(test)]
impl ResolvedRun {
    /// A run of `plan` as resolve stores it, started 2026-11-25T03:00Z with a two-hour bound and
    /// no restores (tests change what they look at).
    pub(crate) fn for_test(run_id: &str, mode: Mode, plan: Plan) -> ResolvedRun {
        ResolvedRun {
            run_id: RunId::try_from(run_id.to_string()).unwrap(),
            mode,
            approval: ApprovalGate::for_run(&plan, mode),
            plan,
            point_in_time: "2026-11-25T03:00:00Z".into(),
            settings: RunSettings::default(),
            restores: vec![],
            warnings: vec![],
            started_at: "2026-11-25T03:00:00Z".into(),
            deadline: "2026-11-25T05:00:00Z".into(),
            resumed: false,
            trigger: None,
            failback: None,
            capture_rounds: 0,
        }
    }
}

impl ResolvedRun {
    /// The account a failover recovers in when it is not Backstop's own (the plan's
    /// `recoverInto`); a drill, a failback and their drills recover in Backstop's account.
    pub fn recovers_into(&self) -> Option<&RecoverInto> {
        self.mode.recovers_into(&self.plan)
    }

    /// Re-checks what protects production, whatever the state input says: every step calls
    /// this, so a plan edited between steps (a negative TTL, a drill record equal to the
    /// production one, a root device) is refused there too.
    pub fn checked(self) -> Result<Self, BackstopError> {
        self.plan.validate()?;
        check_settings(&self.settings)?;
        // the run's start and bound decide which jobs are its own and when it must stop
        parse_time_field("run.startedAt", &self.started_at)?;
        parse_time_field("run.deadline", &self.deadline)?;
        // the gate follows from the plan: a state edited to skip it is refused
        if self.approval != ApprovalGate::for_run(&self.plan, self.mode) {
            return Err(BackstopError::invalid_input(
                "run.approval",
                "does not match the plan's failover.approval for this mode: the run state was edited; start the run again",
            ));
        }
        Ok(self)
    }
}

/// A run may not outlive this, whatever its settings (Step Functions itself allows a year).
pub const MAX_RUN_MINUTES: u32 = 7 * 24 * 60;

pub fn check_settings(settings: &RunSettings) -> Result<(), BackstopError> {
    if !(1..=3600).contains(&settings.poll_interval_seconds) {
        return Err(BackstopError::invalid_input(
            "settings.pollIntervalSeconds",
            "must be between 1 and 3600",
        ));
    }
    if !(1..=MAX_RESOURCES as u32).contains(&settings.max_concurrent_restores) {
        return Err(BackstopError::invalid_input(
            "settings.maxConcurrentRestores",
            format!("must be between 1 and {MAX_RESOURCES} (a plan's most resources; leave it out for no cap)"),
        ));
    }
    if let Some(minutes) = settings.run_timeout_minutes {
        if !(1..=MAX_RUN_MINUTES).contains(&minutes) {
            return Err(BackstopError::invalid_input(
                "settings.runTimeoutMinutes",
                format!("must be between 1 and {MAX_RUN_MINUTES} (7 days)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_is_an_execution_name() {
        assert!(RunId::try_from("drill-2026-11-25T03_00".to_string()).is_ok());
        assert!(RunId::try_from("übung-é".repeat(8)).is_ok());
        for bad in ["", "has space", "semi;colon", "a:b", &"x".repeat(81)] {
            let err = RunId::try_from(bad.to_string()).unwrap_err();
            assert_eq!(err.error_name(), "Backstop.InvalidInput");
            assert!(err.to_string().contains("runId"));
        }
    }

    #[test]
    fn modes_are_lowercase_in_json() {
        assert_eq!(serde_json::to_string(&Mode::Drill).unwrap(), "\"drill\"");
        let mode: Mode = serde_json::from_str("\"failover\"").unwrap();
        assert_eq!(mode, Mode::Failover);
    }

    #[test]
    fn restores_are_not_capped_unless_the_run_asks() {
        let settings: RunSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(settings.max_concurrent_restores as usize, MAX_RESOURCES);
        assert!(check_settings(&settings).is_ok());
        let paced: RunSettings =
            serde_json::from_value(serde_json::json!({ "maxConcurrentRestores": 5 })).unwrap();
        assert_eq!(paced.max_concurrent_restores, 5);
        assert!(check_settings(&paced).is_ok());
        for bad in [0, MAX_RESOURCES as u32 + 1] {
            let settings = RunSettings {
                max_concurrent_restores: bad,
                ..RunSettings::default()
            };
            let err = check_settings(&settings).unwrap_err();
            assert!(
                err.to_string().contains("settings.maxConcurrentRestores"),
                "{err}"
            );
        }
    }
}
