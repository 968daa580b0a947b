//! Protobuf <-> domain conversions for both services, and the mapping of domain errors to gRPC status codes
//! (ARCHITECTURE §3). Incoming messages are validated here so that a malformed request becomes InvalidArgument
//! with a message naming the field, never a panic deeper in.

use std::collections::HashMap;

use genms_coordinator::service::CampaignView;
use genms_coordinator::{CoordinatorError, WorkerCallError};
use genms_shared::constraints::Constraints;
use genms_shared::search as dom;
use genms_worker::WorkerError;
use tonic::{Code, Status};

use crate::proto::genms::v1 as pb;

pub fn propose_to_pb(t: dom::ProposeTask) -> pb::SampleFormulasRequest {
    pb::SampleFormulasRequest {
        task_id: t.task_id,
        prompt: t.prompt,
        constraints_json: serde_json::to_string(&t.constraints).unwrap_or_default(),
        n: t.n,
        seed: t.seed,
        exclude: t.exclude,
        context: t.context,
    }
}

pub fn propose_from_pb(r: pb::SampleFormulasRequest) -> Result<dom::ProposeTask, Status> {
    let constraints: Constraints = if r.constraints_json.trim().is_empty() {
        Constraints::novel_only()
    } else {
        serde_json::from_str(&r.constraints_json)
            .map_err(|e| Status::invalid_argument(format!("constraints_json: {e}")))?
    };
    Ok(dom::ProposeTask {
        task_id: r.task_id,
        prompt: r.prompt,
        constraints,
        n: r.n,
        seed: r.seed,
        exclude: r.exclude,
        context: r.context,
    })
}

pub fn formulas_to_pb(v: Vec<dom::ProposedFormula>) -> pb::SampleFormulasResponse {
    pb::SampleFormulasResponse {
        formulas: v.into_iter().map(|f| pb::ProposedFormula { formula: f.formula, logprob: f.logprob }).collect(),
    }
}

pub fn formulas_from_pb(r: pb::SampleFormulasResponse) -> Vec<dom::ProposedFormula> {
    r.formulas.into_iter().map(|f| dom::ProposedFormula { formula: f.formula, logprob: f.logprob }).collect()
}

pub fn generate_to_pb(t: dom::GenerateTask) -> pb::GenerateStructuresRequest {
    pb::GenerateStructuresRequest {
        task_id: t.task_id,
        model: t.model,
        steps: t.steps,
        items: t
            .items
            .into_iter()
            .map(|i| pb::GenerateItem { item_id: i.item_id, composition: i.composition, seed: i.seed })
            .collect(),
    }
}

pub fn generate_from_pb(r: pb::GenerateStructuresRequest) -> Result<dom::GenerateTask, Status> {
    if r.items.is_empty() {
        return Err(Status::invalid_argument("items: empty batch"));
    }
    Ok(dom::GenerateTask {
        task_id: r.task_id,
        model: r.model,
        steps: r.steps,
        items: r
            .items
            .into_iter()
            .map(|i| dom::GenerateItem { item_id: i.item_id, composition: i.composition, seed: i.seed })
            .collect(),
    })
}

pub fn generated_to_pb(v: Vec<dom::GeneratedStructure>) -> pb::GenerateStructuresResponse {
    pb::GenerateStructuresResponse {
        structures: v
            .into_iter()
            .map(|s| match s.result {
                Ok(g) => pb::GeneratedStructure {
                    item_id: s.item_id,
                    cif: g.cif,
                    error: String::new(),
                    num_sites: g.num_sites,
                    rejection: g.rejection.unwrap_or_default(),
                },
                Err(e) => pb::GeneratedStructure { item_id: s.item_id, error: e, ..Default::default() },
            })
            .collect(),
    }
}

pub fn generated_from_pb(r: pb::GenerateStructuresResponse) -> Vec<dom::GeneratedStructure> {
    r.structures
        .into_iter()
        .map(|s| dom::GeneratedStructure {
            item_id: s.item_id,
            result: if s.error.is_empty() {
                Ok(dom::Generated {
                    cif: s.cif,
                    num_sites: s.num_sites,
                    rejection: (!s.rejection.is_empty()).then_some(s.rejection),
                })
            } else {
                Err(s.error)
            },
        })
        .collect()
}

pub fn score_to_pb(t: dom::ScoreTask) -> pb::ScoreStructuresRequest {
    pb::ScoreStructuresRequest {
        task_id: t.task_id,
        items: t.items.into_iter().map(|i| pb::ScoreItem { item_id: i.item_id, cif: i.cif }).collect(),
    }
}

pub fn score_from_pb(r: pb::ScoreStructuresRequest) -> Result<dom::ScoreTask, Status> {
    if r.items.is_empty() {
        return Err(Status::invalid_argument("items: empty batch"));
    }
    Ok(dom::ScoreTask {
        task_id: r.task_id,
        items: r.items.into_iter().map(|i| dom::ScoreItem { item_id: i.item_id, cif: i.cif }).collect(),
    })
}

pub fn scored_to_pb(v: Vec<dom::ScoredStructure>) -> pb::ScoreStructuresResponse {
    pb::ScoreStructuresResponse {
        scores: v
            .into_iter()
            .map(|s| match s.result {
                Ok(p) => pb::ScoredStructure {
                    item_id: s.item_id,
                    properties: Some(pb::Properties {
                        e_form_per_atom: p.properties.e_form_per_atom,
                        band_gap: p.properties.band_gap,
                        p_metal: p.properties.p_metal,
                    }),
                    error: String::new(),
                    spacegroup_number: p.spacegroup_number.map(u32::from),
                    num_sites: p.num_sites,
                },
                Err(e) => pb::ScoredStructure { item_id: s.item_id, error: e, ..Default::default() },
            })
            .collect(),
    }
}

pub fn scored_from_pb(r: pb::ScoreStructuresResponse) -> Vec<dom::ScoredStructure> {
    r.scores
        .into_iter()
        .map(|s| dom::ScoredStructure {
            item_id: s.item_id,
            result: if s.error.is_empty() {
                let p = s.properties.unwrap_or_default();
                Ok(dom::Scored {
                    properties: dom::Properties {
                        e_form_per_atom: p.e_form_per_atom,
                        band_gap: p.band_gap,
                        p_metal: p.p_metal,
                    },
                    spacegroup_number: s.spacegroup_number.and_then(|n| u16::try_from(n).ok()),
                    num_sites: s.num_sites,
                })
            } else {
                Err(s.error)
            },
        })
        .collect()
}

pub fn info_to_pb(i: dom::WorkerInfo) -> pb::InfoResponse {
    pb::InfoResponse {
        name: i.name,
        device: i.device,
        max_batch: i.max_batch,
        proposer: i.proposer,
        diffusion_models: i.diffusion_models,
        score_heads: i.score_heads,
        bench_latency_ms: i.bench_latency_ms,
    }
}

pub fn info_from_pb(i: pb::InfoResponse) -> dom::WorkerInfo {
    dom::WorkerInfo {
        name: i.name,
        device: i.device,
        max_batch: i.max_batch,
        proposer: i.proposer,
        diffusion_models: i.diffusion_models,
        score_heads: i.score_heads,
        bench_latency_ms: i.bench_latency_ms,
    }
}

pub fn worker_error_status(e: WorkerError) -> Status {
    match e {
        WorkerError::Invalid(m) => Status::invalid_argument(m),
        WorkerError::Model(m) => Status::internal(m),
        WorkerError::Load { .. } => Status::unavailable(e.to_string()),
    }
}

/// How the coordinator classifies a failed worker call.
pub fn status_to_call_error(s: Status, deadline: std::time::Duration) -> WorkerCallError {
    let msg = s.message().to_string();
    match s.code() {
        Code::ResourceExhausted => WorkerCallError::Overloaded(msg),
        Code::Unavailable | Code::Cancelled | Code::Unknown => WorkerCallError::Unavailable(msg),
        Code::DeadlineExceeded => WorkerCallError::DeadlineExceeded(deadline),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange | Code::Unimplemented => {
            WorkerCallError::Invalid(msg)
        }
        _ => WorkerCallError::Other(format!("{:?}: {msg}", s.code())),
    }
}

pub fn params_to_pb(p: &dom::SearchParams) -> pb::SearchParams {
    pb::SearchParams {
        formulas: p.formulas,
        keep: p.keep,
        structures: p.structures,
        rounds: p.rounds,
        budget: p.budget,
        top_k: p.top_k,
        seed: p.seed,
        diffusion_steps: p.diffusion_steps,
        model: p.model.clone(),
    }
}

/// Coordinator defaults overridden by the fields the client says it set.
pub fn params_from_pb(
    p: Option<pb::SearchParams>,
    set: &[String],
    defaults: &dom::SearchParams,
) -> Result<dom::SearchParams, Status> {
    let mut out = defaults.clone();
    let Some(p) = p else { return Ok(out) };
    for f in set {
        match f.as_str() {
            "formulas" => out.formulas = p.formulas,
            "keep" => out.keep = p.keep,
            "structures" => out.structures = p.structures,
            "rounds" => out.rounds = p.rounds,
            "budget" => out.budget = p.budget,
            "top_k" => out.top_k = p.top_k,
            "seed" => out.seed = p.seed,
            "diffusion_steps" => out.diffusion_steps = p.diffusion_steps,
            "model" => out.model = p.model.clone(),
            other => return Err(Status::invalid_argument(format!("set_fields: unknown parameter '{other}'"))),
        }
    }
    Ok(out)
}

pub fn update_from_pb(u: Option<pb::ParamsUpdate>) -> dom::ParamsUpdate {
    let u = u.unwrap_or_default();
    dom::ParamsUpdate {
        formulas: u.formulas,
        keep: u.keep,
        structures: u.structures,
        rounds: u.rounds,
        budget: u.budget,
        top_k: u.top_k,
    }
}

pub fn campaign_to_pb(v: &CampaignView) -> pb::Campaign {
    let s = &v.snapshot;
    pb::Campaign {
        campaign_id: s.meta.id.clone(),
        prompt: s.meta.prompt.clone(),
        state: s.state.as_str().into(),
        round: s.round,
        params: Some(params_to_pb(&s.params)),
        counts: s.counts.iter().map(|(k, v)| (k.clone(), *v)).collect::<HashMap<_, _>>(),
        error: s.error.clone().unwrap_or_default(),
        constraints_json: serde_json::to_string(&s.meta.constraints).unwrap_or_default(),
        frontier: v.frontier.iter().map(|(st, n)| (st.as_str().to_string(), *n)).collect(),
        unknown_words: v.unknown_words.clone(),
        created_ms: s.meta.created_ms,
    }
}

pub fn candidate_to_pb(rank: usize, c: dom::Candidate) -> pb::Candidate {
    pb::Candidate {
        rank: rank as u32,
        candidate_id: c.candidate_id,
        formula: c.formula,
        composition: c.composition,
        e_form_per_atom: c.properties.e_form_per_atom,
        band_gap: c.properties.band_gap,
        p_metal: c.properties.p_metal,
        objective: c.objective,
        spacegroup_number: c.spacegroup_number.map(u32::from),
        num_sites: c.num_sites,
        novel: c.novel,
        formula_logprob: c.formula_logprob,
        cif: c.cif,
        round: c.round,
    }
}

pub fn coordinator_error_status(e: CoordinatorError) -> Status {
    match e {
        CoordinatorError::InvalidArgument(m) => Status::invalid_argument(m),
        CoordinatorError::NotFound(id) => Status::not_found(format!("campaign {id} not found")),
        CoordinatorError::FailedPrecondition(m) => Status::failed_precondition(m),
        CoordinatorError::Store(e) => Status::unavailable(e.to_string()),
    }
}

/// Explicit message size limit of both services (see the .proto headers).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub fn code_name(c: Code) -> &'static str {
    match c {
        Code::InvalidArgument => "invalid_argument",
        Code::NotFound => "not_found",
        Code::Unauthenticated => "unauthenticated",
        Code::ResourceExhausted => "resource_exhausted",
        Code::Unavailable => "unavailable",
        Code::FailedPrecondition => "failed_precondition",
        Code::DeadlineExceeded => "deadline_exceeded",
        _ => "other",
    }
}
