//! The cluster `FrontierStore`: campaigns kept in Redis, with every write that must be atomic (create, lease, commit,
//! set_state, extend_lease, set_params) run as one Lua script (EVALSHA; the script is loaded again automatically when
//! the server answers NOSCRIPT, e.g. after a restart). Semantics are those of [`super::memory::MemoryStore`]; the
//! shared suite in `conformance.rs` holds both to them. The connection is a [`ConnectionManager`], which reconnects
//! by itself after the server restarts: calls made while it is down fail with [`StoreError::Unavailable`] and the
//! coordinator retries them.
//!
//! Key layout (`{p}` is the prefix, `genms` by default, so several deployments or tests can share a server):
//!
//! | key                          | type   | holds                                                              |
//! |------------------------------|--------|--------------------------------------------------------------------|
//! | `{p}:campaigns`              | list   | campaign ids in creation order                                     |
//! | `{p}:c:{id}`                 | hash   | `meta` (JSON), `params` (JSON), `state`, `round`, `error`          |
//! | `{p}:c:{id}:counts`          | hash   | counter -> integer (HINCRBY)                                       |
//! | `{p}:c:{id}:nodes`           | hash   | node id -> `Node` JSON                                             |
//! | `{p}:c:{id}:frontier:{stage}`| zset   | node id -> priority (leased in ZREVRANGE order)                    |
//! | `{p}:c:{id}:cands`           | hash   | candidate id -> `Candidate` JSON (HSETNX: recorded once)           |
//! | `{p}:c:{id}:events`          | list   | `Event` JSON; `seq` is the 1-based position, written by the script |
//! | `{p}:leases`                 | zset   | task id -> deadline (ms)                                           |
//! | `{p}:lease:{task_id}`        | string | `Lease` JSON                                                       |
//!
//! Records are stored as JSON produced by serde and handed to Lua as opaque strings: cjson turns numbers into doubles,
//! so u64 values (seeds, timestamps) must never pass through `cjson.decode`. Numbers the scripts do use (priorities,
//! counter deltas, deadlines) travel as decimal strings that Redis parses itself.

use std::collections::BTreeMap;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{ErrorKind, FromRedisValue, RedisError, Script, ServerErrorKind};
use async_trait::async_trait;
use genms_shared::search::{Candidate, SearchParams};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{FrontierStore, StoreError, StoreResult, Transition};
use crate::model::{CampaignMeta, CampaignSnapshot, CampaignState, Event, Lease, Node, Stage};

/// Key prefix used when the deployment does not choose one.
pub const DEFAULT_PREFIX: &str = "genms";

/// Applies a transition payload (see [`TxPayload`]). Shared by the create and commit scripts, whose KEYS are:
/// 1 campaign hash, 2 counts, 3 nodes, 4 candidates, 5 events, 6 leases zset, 7 lease key, 8 campaign list, then
/// the frontier zset of each enqueue entry in order (8 + i for entry i). A script that fails midway keeps the writes
/// it already made, so everything that could fail (scores, JSON) is checked on the Rust side before it is sent.
const APPLY_LUA: &str = r#"
local function apply(tx, base)
  -- Records arrive as plain ARGV strings after the script's own arguments (count, then id/json pairs for nodes,
  -- the same for candidates): decoding them with cjson would cost more than everything else the script does.
  local nn = tonumber(ARGV[base])
  for i = 0, nn - 1 do redis.call('HSET', KEYS[3], ARGV[base + 1 + 2 * i], ARGV[base + 2 + 2 * i]) end
  local cb = base + 1 + 2 * nn
  local nc = tonumber(ARGV[cb])
  for i = 0, nc - 1 do redis.call('HSETNX', KEYS[4], ARGV[cb + 1 + 2 * i], ARGV[cb + 2 + 2 * i]) end
  for i, q in ipairs(tx.enqueue) do redis.call('ZADD', KEYS[8 + i], q[2], q[1]) end
  for _, c in ipairs(tx.counts) do redis.call('HINCRBY', KEYS[2], c[1], c[2]) end
  if tx.round then redis.call('HSET', KEYS[1], 'round', tx.round) end
  if tx.state then redis.call('HSET', KEYS[1], 'state', tx.state) end
  if tx.error then redis.call('HSET', KEYS[1], 'error', tx.error) end
  local n = redis.call('LLEN', KEYS[5])
  for i, body in ipairs(tx.events) do
    redis.call('RPUSH', KEYS[5], '{"seq":' .. (n + i) .. ',' .. body)
  end
end
"#;

/// ARGV: payload, meta JSON, params JSON, campaign id, then the records (see `apply`). Returns 0 when the id exists.
const CREATE_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local tx = cjson.decode(ARGV[1])
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'params', ARGV[3], 'state', 'running', 'round', '0')
redis.call('RPUSH', KEYS[8], ARGV[4])
apply(tx, 5)
return 1
"#;

/// ARGV: payload, has-task flag ('1'/'0'), task id, then the records (see `apply`). Returns 0 when the lease is
/// gone, -1 when the campaign is.
const COMMIT_LUA: &str = r#"
local guarded = ARGV[2] == '1'
if guarded and not redis.call('ZSCORE', KEYS[6], ARGV[3]) then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local tx = cjson.decode(ARGV[1])
if guarded then
  redis.call('ZREM', KEYS[6], ARGV[3])
  redis.call('DEL', KEYS[7])
end
apply(tx, 4)
return 1
"#;

/// KEYS: campaign hash, frontier zset, nodes hash, leases zset, lease key.
/// ARGV: max, task id, deadline, lease JSON head (up to `"node_ids":`), lease JSON tail (deadline and `}`).
/// Returns nil when the campaign is missing, else the leased nodes' JSON.
const LEASE_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local max = tonumber(ARGV[1])
if max < 1 then return {} end
local ids = redis.call('ZREVRANGE', KEYS[2], 0, max - 1)
if #ids == 0 then return {} end
-- The top `#ids` by ascending rank are exactly the ids ZREVRANGE returned.
redis.call('ZREMRANGEBYRANK', KEYS[2], -#ids, -1)
local out = {}
for _, id in ipairs(ids) do
  local n = redis.call('HGET', KEYS[3], id)
  if n then out[#out + 1] = n end
end
redis.call('SET', KEYS[5], ARGV[4] .. cjson.encode(ids) .. ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
return out
"#;

/// KEYS: leases zset, lease key. ARGV: task id, deadline (digits). The lease JSON ends with `"deadline_ms":N}`
/// (written that way by `lease`), so the deadline is replaced without decoding the record.
const EXTEND_LUA: &str = r#"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local v = redis.call('GET', KEYS[2])
if v then
  local s = string.gsub(v, '"deadline_ms":%d+}$', '"deadline_ms":' .. ARGV[2] .. '}')
  redis.call('SET', KEYS[2], s)
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"#;

/// KEYS: campaign hash. ARGV: new state, then the states that still allow a change (from `CampaignState::is_active`,
/// so the rule lives in one place). Returns the state after, nil when the campaign is missing.
const SET_STATE_LUA: &str = r#"
local s = redis.call('HGET', KEYS[1], 'state')
if not s then return false end
for i = 2, #ARGV do
  if s == ARGV[i] then
    redis.call('HSET', KEYS[1], 'state', ARGV[1])
    return ARGV[1]
  end
end
return s
"#;

/// KEYS: campaign hash. ARGV: params JSON. Returns 0 when the campaign is missing.
const SET_PARAMS_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'params', ARGV[1])
return 1
"#;

/// A `Transition` as the scripts read it: records as verbatim JSON strings, numbers as decimal strings.
#[derive(Serialize)]
struct TxPayload {
    /// (node id, priority); the frontier zset is passed in KEYS.
    enqueue: Vec<(String, String)>,
    counts: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    round: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Event JSON without `seq` and without the opening brace: the script prepends `{"seq":N,`.
    events: Vec<String>,
}

/// Redis-backed store. Cheap to share: the connection manager multiplexes concurrent calls on one connection.
pub struct RedisStore {
    con: ConnectionManager,
    prefix: String,
    url: String,
    create: Script,
    commit: Script,
    lease: Script,
    extend: Script,
    set_state: Script,
    set_params: Script,
}

impl RedisStore {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`), namespacing every key under `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> StoreResult<RedisStore> {
        let shown = redact_url(url);
        let unavailable = |e: RedisError| StoreError::Unavailable(format!("{shown}: {e}"));
        let client = ::redis::Client::open(url).map_err(unavailable)?;
        // Timeouts so that a hung server turns into an error the coordinator can retry instead of a stuck call.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(30)))
            .set_max_delay(Duration::from_secs(2));
        let con = ConnectionManager::new_with_config(client, config).await.map_err(unavailable)?;
        let with_apply = |body: &str| Script::new(&format!("{APPLY_LUA}{body}"));
        Ok(RedisStore {
            con,
            prefix: prefix.to_string(),
            url: shown,
            create: with_apply(CREATE_LUA),
            commit: with_apply(COMMIT_LUA),
            lease: Script::new(LEASE_LUA),
            extend: Script::new(EXTEND_LUA),
            set_state: Script::new(SET_STATE_LUA),
            set_params: Script::new(SET_PARAMS_LUA),
        })
    }

    fn campaign_key(&self, id: &str) -> String {
        format!("{}:c:{id}", self.prefix)
    }

    fn sub_key(&self, id: &str, what: &str) -> String {
        format!("{}:c:{id}:{what}", self.prefix)
    }

    fn frontier_key(&self, id: &str, stage: Stage) -> String {
        format!("{}:c:{id}:frontier:{}", self.prefix, stage.as_str())
    }

    fn leases_key(&self) -> String {
        format!("{}:leases", self.prefix)
    }

    fn lease_key(&self, task_id: &str) -> String {
        format!("{}:lease:{task_id}", self.prefix)
    }

    /// Runs a create or commit script: fixed KEYS 1..8, then one frontier zset per enqueue entry.
    async fn run_tx_script<T: FromRedisValue>(
        &self,
        script: &Script,
        campaign: &str,
        task_id: Option<&str>,
        tx: &Transition,
        extra_args: &[&str],
    ) -> StoreResult<T> {
        let nodes: Vec<(&str, String)> =
            tx.nodes.iter().map(|n| Ok((n.id.as_str(), to_json(n)?))).collect::<StoreResult<_>>()?;
        let candidates: Vec<(&str, String)> =
            tx.candidates.iter().map(|c| Ok((c.candidate_id.as_str(), to_json(c)?))).collect::<StoreResult<_>>()?;
        let payload = TxPayload {
            enqueue: tx.enqueue.iter().map(|(_, id, p)| (id.clone(), score_arg(*p))).collect(),
            counts: tx.counts.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
            round: tx.round.map(|r| r.to_string()),
            state: tx.state.map(CampaignState::as_str),
            error: tx.error.clone(),
            events: tx.events.iter().map(event_body).collect::<StoreResult<_>>()?,
        };
        let payload = to_json(&payload)?;
        let mut inv = script.prepare_invoke();
        inv.key(self.campaign_key(campaign))
            .key(self.sub_key(campaign, "counts"))
            .key(self.sub_key(campaign, "nodes"))
            .key(self.sub_key(campaign, "cands"))
            .key(self.sub_key(campaign, "events"))
            .key(self.leases_key())
            .key(self.lease_key(task_id.unwrap_or("")))
            .key(format!("{}:campaigns", self.prefix));
        for (stage, _, _) in &tx.enqueue {
            inv.key(self.frontier_key(campaign, *stage));
        }
        inv.arg(payload);
        for arg in extra_args {
            inv.arg(*arg);
        }
        inv.arg(nodes.len());
        for (id, json) in &nodes {
            inv.arg(*id).arg(json.as_str());
        }
        inv.arg(candidates.len());
        for (id, json) in &candidates {
            inv.arg(*id).arg(json.as_str());
        }
        let key = self.campaign_key(campaign);
        inv.invoke_async(&mut self.con.clone()).await.map_err(|e| redis_err(&key, e))
    }

    async fn query<T: FromRedisValue>(&self, key: &str, cmd: &::redis::Cmd) -> StoreResult<T> {
        cmd.query_async(&mut self.con.clone()).await.map_err(|e| redis_err(key, e))
    }

    /// Reads `cmd` together with the campaign's existence, in one MULTI so both see the same state.
    async fn read_existing<T: FromRedisValue>(&self, campaign: &str, key: &str, cmd: &::redis::Cmd) -> StoreResult<T> {
        let mut pipe = ::redis::pipe();
        pipe.atomic().cmd("EXISTS").arg(self.campaign_key(campaign)).add_command(cmd.clone());
        let (exists, value): (bool, T) =
            pipe.query_async(&mut self.con.clone()).await.map_err(|e| redis_err(key, e))?;
        if !exists {
            return Err(StoreError::NotFound(campaign.to_string()));
        }
        Ok(value)
    }
}

/// Maps a Redis error: lost or refused connections (and a server still loading or read-only) are `Unavailable`,
/// which the coordinator retries; replies of the wrong shape are `Corrupt`; other server errors are `Io`.
fn redis_err(key: &str, e: RedisError) -> StoreError {
    match e.kind() {
        ErrorKind::UnexpectedReturnType | ErrorKind::Parse => corrupt(key, e.to_string()),
        ErrorKind::Server(ServerErrorKind::ResponseError | ServerErrorKind::ExecAbort | ServerErrorKind::NoPerm)
        | ErrorKind::Extension => StoreError::Io(format!("{key}: {e}")),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Io(format!("encoding a record: {e}")))
}

fn from_json<T: DeserializeOwned>(key: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| corrupt(key, e.to_string()))
}

fn corrupt(key: &str, message: String) -> StoreError {
    StoreError::Corrupt { key: key.to_string(), message }
}

/// The event's JSON without `seq` and without its opening brace (the script prefixes `{"seq":N,`).
fn event_body(event: &Event) -> StoreResult<String> {
    let mut value = serde_json::to_value(event).map_err(|e| StoreError::Io(format!("encoding an event: {e}")))?;
    if let Some(map) = value.as_object_mut() {
        // `retain` keeps field order (`remove` would swap fields around when serde_json preserves order).
        map.retain(|k, _| k != "seq");
    }
    let text = to_json(&value)?;
    match text.strip_prefix('{') {
        Some(rest) if rest != "}" => Ok(rest.to_string()),
        _ => Err(StoreError::Io(format!("event encodes to {text}, not a non-empty JSON object"))),
    }
}

/// A priority as a ZADD score. Rust's `Display` is the shortest exact form, which Redis parses back exactly. NaN
/// (a bug upstream) is ranked first, as `total_cmp` in the memory store ranks it.
fn score_arg(priority: f64) -> String {
    match priority {
        p if p.is_nan() || p == f64::INFINITY => "+inf".into(),
        p if p == f64::NEG_INFINITY => "-inf".into(),
        p => p.to_string(),
    }
}

/// The URL with any password removed (and the query, which may carry one), for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "redis://?".into() };
    let rest = rest.split('?').next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) if !user.is_empty() => format!("{user}@{host}"),
            Some(_) => host.to_string(),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{host}{path}")
}

#[async_trait]
impl FrontierStore for RedisStore {
    fn describe(&self) -> String {
        self.url.clone()
    }

    async fn ping(&self) -> StoreResult<()> {
        let pong: String = self.query("PING", &::redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!("{}: PING answered {pong:?}", self.url)))
        }
    }

    async fn create_campaign(&self, meta: &CampaignMeta, params: &SearchParams, init: &Transition) -> StoreResult<()> {
        let (meta_json, params_json) = (to_json(meta)?, to_json(params)?);
        let created: i64 =
            self.run_tx_script(&self.create, &meta.id, None, init, &[&meta_json, &params_json, &meta.id]).await?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists(meta.id.clone()))
        }
    }

    async fn campaign_ids(&self) -> StoreResult<Vec<String>> {
        let key = format!("{}:campaigns", self.prefix);
        self.query(&key, ::redis::cmd("LRANGE").arg(&key).arg(0).arg(-1)).await
    }

    async fn campaign(&self, id: &str) -> StoreResult<Option<CampaignSnapshot>> {
        let key = self.campaign_key(id);
        let counts_key = self.sub_key(id, "counts");
        let mut pipe = ::redis::pipe();
        pipe.atomic().cmd("HGETALL").arg(&key).cmd("HGETALL").arg(&counts_key);
        let (mut fields, counts): (BTreeMap<String, String>, BTreeMap<String, String>) =
            pipe.query_async(&mut self.con.clone()).await.map_err(|e| redis_err(&key, e))?;
        if fields.is_empty() {
            return Ok(None);
        }
        let mut field = |name: &str| fields.remove(name).ok_or_else(|| corrupt(&key, format!("no {name}")));
        let meta: CampaignMeta = from_json(&format!("{key} meta"), &field("meta")?)?;
        let params: SearchParams = from_json(&format!("{key} params"), &field("params")?)?;
        let state_text = field("state")?;
        let state = CampaignState::parse(&state_text).ok_or_else(|| corrupt(&key, format!("state {state_text:?}")))?;
        let round_text = field("round")?;
        let round = round_text.parse().map_err(|_| corrupt(&key, format!("round {round_text:?}")))?;
        let counts = counts
            .into_iter()
            .map(|(k, v)| {
                v.parse::<i64>().map(|n| (k.clone(), n)).map_err(|_| corrupt(&counts_key, format!("{k}={v:?}")))
            })
            .collect::<StoreResult<_>>()?;
        Ok(Some(CampaignSnapshot { meta, params, state, round, error: fields.remove("error"), counts }))
    }

    async fn set_params(&self, id: &str, params: &SearchParams) -> StoreResult<()> {
        let key = self.campaign_key(id);
        let mut inv = self.set_params.prepare_invoke();
        inv.key(&key).arg(to_json(params)?);
        let done: i64 = inv.invoke_async(&mut self.con.clone()).await.map_err(|e| redis_err(&key, e))?;
        if done == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound(id.to_string()))
        }
    }

    async fn set_state(&self, id: &str, state: CampaignState) -> StoreResult<CampaignState> {
        let key = self.campaign_key(id);
        let mut inv = self.set_state.prepare_invoke();
        inv.key(&key).arg(state.as_str());
        for s in [
            CampaignState::Running,
            CampaignState::Paused,
            CampaignState::Done,
            CampaignState::Failed,
            CampaignState::Cancelled,
        ] {
            if s.is_active() {
                inv.arg(s.as_str());
            }
        }
        let after: Option<String> = inv.invoke_async(&mut self.con.clone()).await.map_err(|e| redis_err(&key, e))?;
        let after = after.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        CampaignState::parse(&after).ok_or_else(|| corrupt(&key, format!("state {after:?}")))
    }

    async fn lease(
        &self,
        campaign: &str,
        stage: Stage,
        max: usize,
        task_id: &str,
        deadline_ms: u64,
    ) -> StoreResult<Vec<Node>> {
        // The lease JSON is assembled around the ids the script picks; deadline last so extend_lease can rewrite it.
        let head = format!(
            r#"{{"task_id":{},"campaign":{},"stage":{},"node_ids":"#,
            to_json(&task_id)?,
            to_json(&campaign)?,
            to_json(&stage)?
        );
        let tail = format!(r#","deadline_ms":{deadline_ms}}}"#);
        let nodes_key = self.sub_key(campaign, "nodes");
        let mut inv = self.lease.prepare_invoke();
        inv.key(self.campaign_key(campaign))
            .key(self.frontier_key(campaign, stage))
            .key(&nodes_key)
            .key(self.leases_key())
            .key(self.lease_key(task_id))
            .arg(max)
            .arg(task_id)
            .arg(deadline_ms)
            .arg(head)
            .arg(tail);
        let leased: Option<Vec<String>> =
            inv.invoke_async(&mut self.con.clone()).await.map_err(|e| redis_err(&nodes_key, e))?;
        let leased = leased.ok_or_else(|| StoreError::NotFound(campaign.to_string()))?;
        leased.iter().map(|json| from_json(&nodes_key, json)).collect()
    }

    async fn extend_lease(&self, task_id: &str, deadline_ms: u64) -> StoreResult<bool> {
        let key = self.lease_key(task_id);
        let mut inv = self.extend.prepare_invoke();
        inv.key(self.leases_key()).key(&key).arg(task_id).arg(deadline_ms);
        let done: i64 = inv.invoke_async(&mut self.con.clone()).await.map_err(|e| redis_err(&key, e))?;
        Ok(done == 1)
    }

    async fn leases(&self) -> StoreResult<Vec<Lease>> {
        let key = self.leases_key();
        let ids: Vec<String> = self.query(&key, ::redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1)).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|t| self.lease_key(t)).collect();
        let values: Vec<Option<String>> = self.query(&key, ::redis::cmd("MGET").arg(&keys)).await?;
        let mut leases = Vec::with_capacity(ids.len());
        // A lease committed between the two reads is simply gone (None): it is no longer in flight.
        for (k, v) in keys.iter().zip(values) {
            if let Some(json) = v {
                leases.push(from_json::<Lease>(k, &json)?);
            }
        }
        leases.sort_by(|a, b| a.deadline_ms.cmp(&b.deadline_ms).then_with(|| a.task_id.cmp(&b.task_id)));
        Ok(leases)
    }

    async fn commit(&self, campaign: &str, task_id: Option<&str>, tx: &Transition) -> StoreResult<bool> {
        let (flag, task) = match task_id {
            Some(t) => ("1", t),
            None => ("0", ""),
        };
        let applied: i64 = self.run_tx_script(&self.commit, campaign, task_id, tx, &[flag, task]).await?;
        match applied {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(StoreError::NotFound(campaign.to_string())),
        }
    }

    async fn nodes(&self, campaign: &str) -> StoreResult<Vec<Node>> {
        let key = self.sub_key(campaign, "nodes");
        let values: Vec<String> = self.read_existing(campaign, &key, ::redis::cmd("HVALS").arg(&key)).await?;
        let mut nodes = values.iter().map(|v| from_json::<Node>(&key, v)).collect::<StoreResult<Vec<_>>>()?;
        // Same order as the memory store (by id), so callers see one behaviour.
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    async fn frontier_len(&self, campaign: &str, stage: Stage) -> StoreResult<u64> {
        let key = self.frontier_key(campaign, stage);
        self.read_existing(campaign, &key, ::redis::cmd("ZCARD").arg(&key)).await
    }

    async fn candidates(&self, campaign: &str) -> StoreResult<Vec<Candidate>> {
        let key = self.sub_key(campaign, "cands");
        let values: Vec<String> = self.read_existing(campaign, &key, ::redis::cmd("HVALS").arg(&key)).await?;
        let mut cands = values.iter().map(|v| from_json::<Candidate>(&key, v)).collect::<StoreResult<Vec<_>>>()?;
        cands.sort_by(|a, b| a.candidate_id.cmp(&b.candidate_id));
        Ok(cands)
    }

    async fn events_after(&self, campaign: &str, after: u64, max: usize) -> StoreResult<Vec<Event>> {
        let key = self.sub_key(campaign, "events");
        if max == 0 {
            // LRANGE 0 -1 would mean everything; still report a missing campaign as the memory store does.
            self.read_existing::<i64>(campaign, &key, ::redis::cmd("LLEN").arg(&key)).await?;
            return Ok(Vec::new());
        }
        let start = i64::try_from(after).unwrap_or(i64::MAX);
        // LRANGE's stop is inclusive.
        let stop = start.saturating_add(i64::try_from(max).unwrap_or(i64::MAX) - 1);
        let values: Vec<String> =
            self.read_existing(campaign, &key, ::redis::cmd("LRANGE").arg(&key).arg(start).arg(stop)).await?;
        let mut events = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let mut event: Event = from_json(&key, v)?;
            // The position is authoritative (it is also what the script wrote).
            event.seq = after + i as u64 + 1;
            events.push(event);
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    use super::*;
    use crate::store::conformance::{self, CAMPAIGN};

    /// A scratch directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("genms-redis-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A redis-server child process, killed on drop so a failing test leaks nothing.
    struct Server {
        child: Child,
        port: u16,
    }

    impl Server {
        fn start(port: u16, dir: &Path, durable: bool) -> Server {
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""]);
            if durable {
                cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
            } else {
                cmd.args(["--appendonly", "no"]);
            }
            cmd.arg("--dir").arg(dir).stdout(Stdio::null()).stderr(Stdio::null());
            let child = match cmd.spawn() {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "redis-server not found on PATH: the Redis store tests need it \
                     (apt-get install redis-server; CI installs it)"
                ),
                Err(e) => panic!("starting redis-server: {e}"),
            };
            let mut server = Server { child, port };
            server.wait_ready();
            server
        }

        /// Waits until the server answers PING (it refuses, or answers LOADING, while starting).
        fn wait_ready(&mut self) {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("redis-server exited while starting: {status}");
                }
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                    let mut buf = [0u8; 16];
                    if s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok() && buf.starts_with(b"+PONG") {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!("redis-server on port {} did not answer PING within 10 s", self.port);
        }

        fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/", self.port)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("local addr").port()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_store_conforms() {
        let dir = TempDir::new("conform");
        let server = Server::start(free_port(), &dir.0, false);
        // Two prefixes on one server: the suite expects to see only its own campaign, so this also checks namespacing.
        for prefix in ["genms-a", "genms-b"] {
            let store = RedisStore::connect(&server.url(), prefix).await.expect("connect");
            conformance::run(&store).await;
            conformance::check_after_run(&store).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_store_survives_server_restart() {
        let dir = TempDir::new("restart");
        let port = free_port();
        let server = Server::start(port, &dir.0, true);
        let store = RedisStore::connect(&server.url(), DEFAULT_PREFIX).await.expect("connect");
        conformance::run(&store).await;
        drop(server); // SIGKILL: only what the append-only file fsynced survives.
        assert!(store.ping().await.is_err(), "ping answered with the server down");
        let _server = Server::start(port, &dir.0, true);

        // The manager reconnects on its own; the first calls may still fail while it does.
        let until = Instant::now() + Duration::from_secs(10);
        while let Err(e) = store.ping().await {
            assert!(Instant::now() < until, "store did not come back after the restart: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        conformance::check_after_run(&store).await;
        // Scripts run again (the restarted server's script cache is empty: EVALSHA -> NOSCRIPT -> load).
        let leased = store.lease(CAMPAIGN, Stage::Generate, 5, "t-after", 10).await.expect("lease");
        assert_eq!(leased.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), vec!["a"]);
        let mut tx = Transition::default();
        tx.events.push(Event::new("resumed", "after restart"));
        assert!(store.commit(CAMPAIGN, Some("t-after"), &tx).await.expect("commit"));
        let events = store.events_after(CAMPAIGN, 2, 10).await.expect("events");
        assert_eq!((events.len(), events[0].seq, events[0].kind.as_str()), (1, 3, "resumed"));
    }

    #[test]
    fn describe_hides_the_password() {
        assert_eq!(redact_url("redis://:secret@db:6379/0"), "redis://db:6379/0");
        assert_eq!(redact_url("redis://app:secret@db/"), "redis://app@db/");
        assert_eq!(redact_url("rediss://db:6380?password=x"), "rediss://db:6380");
        assert_eq!(redact_url("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
    }

    #[test]
    fn scores_and_event_bodies() {
        assert_eq!(score_arg(0.1), "0.1");
        assert_eq!(score_arg(f64::NEG_INFINITY), "-inf");
        assert_eq!(score_arg(f64::NAN), "+inf");
        let body = event_body(&Event { seq: 7, ts_ms: u64::MAX, kind: "k".into(), message: "m".into() }).unwrap();
        let event: Event = serde_json::from_str(&format!("{{\"seq\":1,{body}")).unwrap();
        assert_eq!((event.seq, event.ts_ms), (1, u64::MAX));
    }
}
