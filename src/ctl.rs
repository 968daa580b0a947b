//! `genms ctl`: the operator's client of a running coordinator — create, inspect, watch and retune campaigns, pause /
//! resume / cancel them, list candidates and workers. `--json` prints machine-readable output for scripts and tests.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::proto::genms::v1 as pb;
use crate::proto::genms::v1::coordinator_service_client::CoordinatorServiceClient;
use crate::rpc::convert::{self, MAX_MESSAGE_BYTES};

#[derive(Args, Debug)]
pub struct CtlArgs {
    /// Coordinator address (host:port or http://host:port).
    #[arg(long, default_value = "127.0.0.1:50051", env = "GENMS_COORDINATOR")]
    pub coordinator: String,
    /// Bearer token for mutating calls.
    #[arg(long, env = "GENMS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub json: bool,
    /// CA (PEM) to verify a TLS coordinator with; enables TLS.
    #[arg(long, env = "GENMS_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a coordinator that requires one.
    #[arg(long, env = "GENMS_TLS_CLIENT_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Key of --tls-cert.
    #[arg(long, env = "GENMS_TLS_CLIENT_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Server name expected in the coordinator's certificate (default: the host of --coordinator).
    #[arg(long, env = "GENMS_TLS_DOMAIN")]
    pub tls_domain: Option<String>,
    /// Deadline of each call (s).
    #[arg(long, default_value_t = 30, env = "GENMS_CTL_TIMEOUT_S")]
    pub timeout_s: u64,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Start a campaign.
    Create {
        prompt: String,
        #[command(flatten)]
        params: CreateParams,
        /// Choose the campaign id (default: generated).
        #[arg(long)]
        id: Option<String>,
    },
    /// A campaign's state, parameters and counts per tree level.
    Get {
        id: String,
    },
    /// All campaigns.
    List,
    /// Stream a campaign's events until it finishes.
    Watch {
        id: String,
    },
    /// Change live parameters of a running campaign.
    Set {
        id: String,
        #[arg(long)]
        formulas: Option<u32>,
        #[arg(long)]
        keep: Option<u32>,
        #[arg(long)]
        structures: Option<u32>,
        #[arg(long)]
        rounds: Option<u32>,
        #[arg(long, allow_negative_numbers = true)]
        budget: Option<i64>,
        #[arg(long)]
        top: Option<u32>,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Cancel {
        id: String,
    },
    /// Ranked candidates (with CIF text in --json).
    Candidates {
        id: String,
        /// Best N (0 = all).
        #[arg(long, default_value_t = 0)]
        top: u32,
    },
    /// Workers the coordinator knows, with health and load.
    Workers,
}

pub fn run(args: CtlArgs) -> anyhow::Result<()> {
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(ctl(args))
}

fn request<T>(msg: T, args: &CtlArgs) -> anyhow::Result<tonic::Request<T>> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(Duration::from_secs(args.timeout_s));
    if let Some(t) = &args.token {
        let v: MetadataValue<_> = format!("Bearer {t}").parse().context("GENMS_TOKEN is not a valid header value")?;
        r.metadata_mut().insert("authorization", v);
    }
    Ok(r)
}

fn status_error(s: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", s.message(), convert::code_name(s.code()))
}

async fn ctl(args: CtlArgs) -> anyhow::Result<()> {
    let tls = crate::tls::ClientTls {
        ca: args.tls_ca.clone(),
        cert: args.tls_cert.clone(),
        key: args.tls_key.clone(),
        domain: args.tls_domain.clone(),
    }
    .config()?;
    let url = crate::tls::url(&args.coordinator, tls.is_some());
    let mut endpoint = Endpoint::from_shared(url.clone()).with_context(|| format!("coordinator address {url}"))?;
    if let Some(cfg) = tls {
        endpoint = endpoint.tls_config(cfg).context("TLS configuration")?;
    }
    let channel: Channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("connecting to the coordinator at {url}"))?;
    let mut client = CoordinatorServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let json = args.json;
    match &args.command {
        CtlCommand::Create { prompt, params, id } => {
            let (p, set_fields) = params.to_pb();
            let msg = pb::CreateCampaignRequest {
                prompt: prompt.clone(),
                params: Some(p),
                set_fields,
                campaign_id: id.clone().unwrap_or_default(),
            };
            let r = client.create_campaign(request(msg, &args)?).await.map_err(status_error)?.into_inner();
            if json {
                println!("{}", serde_json::json!({ "campaign_id": r.campaign_id }));
            } else {
                println!("{}", r.campaign_id);
            }
        }
        CtlCommand::Get { id } => {
            let c = client
                .get_campaign(request(pb::CampaignRef { campaign_id: id.clone() }, &args)?)
                .await
                .map_err(status_error)?;
            print_campaign(&c.into_inner(), json);
        }
        CtlCommand::List => {
            let r = client.list_campaigns(request(pb::ListCampaignsRequest {}, &args)?).await.map_err(status_error)?;
            let list = r.into_inner().campaigns;
            if json {
                println!("{}", serde_json::Value::Array(list.iter().map(campaign_json).collect()));
            } else {
                for c in &list {
                    println!("{}\t{}\tround {}\t{}", c.campaign_id, c.state, c.round, c.prompt);
                }
            }
        }
        CtlCommand::Watch { id } => {
            let mut req = tonic::Request::new(pb::WatchCampaignRequest { campaign_id: id.clone(), after_seq: 0 });
            req.metadata_mut();
            let mut stream = client.watch_campaign(req).await.map_err(status_error)?.into_inner();
            while let Some(e) = stream.message().await.map_err(status_error)? {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"seq": e.seq, "ts_ms": e.ts_ms, "kind": e.kind, "message": e.message,
                            "state": e.state, "counts": e.counts})
                    );
                } else {
                    println!("[{}] {} {}: {}", e.seq, e.state, e.kind, e.message);
                }
            }
        }
        CtlCommand::Set { id, formulas, keep, structures, rounds, budget, top } => {
            let update = pb::ParamsUpdate {
                formulas: *formulas,
                keep: *keep,
                structures: *structures,
                rounds: *rounds,
                budget: *budget,
                top_k: *top,
            };
            if update == pb::ParamsUpdate::default() {
                bail!("nothing to set: pass --formulas, --keep, --structures, --rounds, --budget or --top");
            }
            let msg = pb::UpdateSearchParamsRequest { campaign_id: id.clone(), update: Some(update) };
            let c = client.update_search_params(request(msg, &args)?).await.map_err(status_error)?;
            print_campaign(&c.into_inner(), json);
        }
        CtlCommand::Pause { id } | CtlCommand::Resume { id } | CtlCommand::Cancel { id } => {
            let msg = request(pb::CampaignRef { campaign_id: id.clone() }, &args)?;
            let c = match &args.command {
                CtlCommand::Pause { .. } => client.pause_campaign(msg).await,
                CtlCommand::Resume { .. } => client.resume_campaign(msg).await,
                _ => client.cancel_campaign(msg).await,
            }
            .map_err(status_error)?;
            print_campaign(&c.into_inner(), json);
        }
        CtlCommand::Candidates { id, top } => {
            let msg = pb::ListCandidatesRequest { campaign_id: id.clone(), top: *top };
            let r = client.list_candidates(request(msg, &args)?).await.map_err(status_error)?.into_inner();
            if json {
                let rows: Vec<serde_json::Value> = r.candidates.iter().map(candidate_json).collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                println!(
                    "rank\tcandidate_id\tformula\te_form_per_atom\tband_gap\tp_metal\tspacegroup\tnum_sites\tnovel"
                );
                for c in &r.candidates {
                    println!(
                        "{}\t{}\t{}\t{:.4}\t{:.3}\t{:.3}\t{}\t{}\t{}",
                        c.rank,
                        c.candidate_id,
                        c.formula,
                        c.e_form_per_atom.unwrap_or(f64::NAN),
                        c.band_gap.unwrap_or(f64::NAN),
                        c.p_metal.unwrap_or(f64::NAN),
                        c.spacegroup_number.map(|n| n.to_string()).unwrap_or_default(),
                        c.num_sites,
                        c.novel
                    );
                }
            }
        }
        CtlCommand::Workers => {
            let r = client
                .list_workers(request(pb::ListWorkersRequest {}, &args)?)
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                let rows: Vec<serde_json::Value> = r
                    .workers
                    .iter()
                    .map(|w| {
                        serde_json::json!({"address": w.address, "healthy": w.healthy, "in_flight": w.in_flight,
                            "completed": w.completed, "failed": w.failed,
                            "device": w.info.as_ref().map(|i| i.device.clone())})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for w in &r.workers {
                    println!(
                        "{}\t{}\tin_flight {}\tcompleted {}\tfailed {}",
                        w.address,
                        if w.healthy { "healthy" } else { "UNHEALTHY" },
                        w.in_flight,
                        w.completed,
                        w.failed
                    );
                }
            }
        }
    }
    Ok(())
}

/// Search parameters of `ctl create`: only the ones given are sent, the coordinator's defaults apply to the rest.
#[derive(Args, Debug)]
pub struct CreateParams {
    /// H: formulae proposed per round.
    #[arg(long)]
    pub formulas: Option<u32>,
    /// W: formulae kept per round.
    #[arg(long)]
    pub keep: Option<u32>,
    /// L: structures per kept formula.
    #[arg(long)]
    pub structures: Option<u32>,
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Most structures generated.
    #[arg(long)]
    pub budget: Option<u64>,
    /// Candidates reported.
    #[arg(long)]
    pub top: Option<u32>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Reverse diffusion steps.
    #[arg(long)]
    pub steps: Option<u32>,
    /// Diffusion model.
    #[arg(long)]
    pub model: Option<String>,
}

impl CreateParams {
    fn to_pb(&self) -> (pb::SearchParams, Vec<String>) {
        let mut p = pb::SearchParams::default();
        let mut set = Vec::new();
        macro_rules! take {
            ($field:ident, $pb:ident, $name:literal) => {
                if let Some(v) = self.$field.clone() {
                    p.$pb = v;
                    set.push($name.to_string());
                }
            };
        }
        take!(formulas, formulas, "formulas");
        take!(keep, keep, "keep");
        take!(structures, structures, "structures");
        take!(rounds, rounds, "rounds");
        take!(budget, budget, "budget");
        take!(top, top_k, "top_k");
        take!(seed, seed, "seed");
        take!(steps, diffusion_steps, "diffusion_steps");
        take!(model, model, "model");
        (p, set)
    }
}

fn campaign_json(c: &pb::Campaign) -> serde_json::Value {
    let params = c.params.clone().unwrap_or_default();
    let constraints: serde_json::Value = serde_json::from_str(&c.constraints_json).unwrap_or(serde_json::Value::Null);
    let counts: std::collections::BTreeMap<&String, &i64> = c.counts.iter().collect();
    let frontier: std::collections::BTreeMap<&String, &u64> = c.frontier.iter().collect();
    // The same counters nested per tree level: {"formulas": {"proposed": 12, "rejected": {"known": 2}}, ...}.
    let mut levels = serde_json::Map::new();
    for (key, value) in &counts {
        let mut parts = key.split('.');
        let Some(level) = parts.next() else { continue };
        let rest: Vec<&str> = parts.collect();
        let mut node = levels.entry(level.to_string()).or_insert_with(|| serde_json::json!({}));
        if rest.is_empty() {
            *node = serde_json::json!(value);
            continue;
        }
        for (i, part) in rest.iter().enumerate() {
            if !node.is_object() {
                break;
            }
            let last = i + 1 == rest.len();
            let entry =
                node.as_object_mut().map(|o| o.entry(part.to_string()).or_insert_with(|| serde_json::json!({})));
            let Some(entry) = entry else { break };
            if last {
                *entry = serde_json::json!(value);
            }
            node = entry;
        }
    }
    serde_json::json!({
        "campaign_id": c.campaign_id,
        "prompt": c.prompt,
        "state": c.state,
        "round": c.round,
        "params": {
            "formulas": params.formulas, "keep": params.keep, "structures": params.structures, "rounds": params.rounds,
            "budget": params.budget, "top_k": params.top_k, "seed": params.seed,
            "diffusion_steps": params.diffusion_steps, "model": params.model,
        },
        "counts": counts,
        "levels": levels,
        "frontier": frontier,
        "constraints": constraints,
        "unknown_words": c.unknown_words,
        "error": c.error,
        "created_ms": c.created_ms,
    })
}

fn print_campaign(c: &pb::Campaign, json: bool) {
    if json {
        println!("{}", campaign_json(c));
        return;
    }
    println!("campaign {} [{}] round {}: {}", c.campaign_id, c.state, c.round, c.prompt);
    let mut counts: Vec<_> = c.counts.iter().collect();
    counts.sort();
    for (k, v) in counts {
        println!("  {k} = {v}");
    }
    if !c.error.is_empty() {
        println!("  error: {}", c.error);
    }
}

fn candidate_json(c: &pb::Candidate) -> serde_json::Value {
    serde_json::json!({
        "rank": c.rank,
        "candidate_id": c.candidate_id,
        "formula": c.formula,
        "e_form_per_atom": c.e_form_per_atom,
        "band_gap": c.band_gap,
        "p_metal": c.p_metal,
        "spacegroup_number": c.spacegroup_number,
        "num_sites": c.num_sites,
        "novel": c.novel,
        "formula_logprob": c.formula_logprob,
        "cif_path": format!("cif/{}.cif", c.candidate_id),
        "composition": c.composition,
        "objective": c.objective,
        "round": c.round,
        "cif": c.cif,
    })
}
