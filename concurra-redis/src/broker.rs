//! Everything that speaks to Redis: where the keys are, how to connect, the Lua scripts, and
//! reading the replies of the stream commands. Nothing here knows a Future.

use std::time::Duration;

use concurra::Error;
use redis::Value;

/// The consumer group every worker of a build reads with.
pub(crate) const GROUP: &str = "workers";

/// A broker address split into the part the `redis` crate reads and concurra's own query
/// parameters (`ns`, `processes`, `prefetch`), which it would not know.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The URL for the `redis` crate (`redis://`, `rediss://`, `redis+unix://`), without our
    /// parameters.
    pub(crate) url: String,
    /// Our parameters, in order.
    pub(crate) params: Vec<(String, String)>,
}

impl Target {
    /// Splits `url`'s query: `ns`, `processes`, `prefetch` and `lease_ms` are ours, the rest
    /// stays.
    pub(crate) fn parse(url: &str) -> Target {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut params = Vec::new();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if matches!(k, "ns" | "processes" | "prefetch") {
                params.push((k.to_string(), v.to_string()));
            } else {
                kept.push(pair);
            }
        }
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Target { url, params }
    }

    /// Our parameter `key`, if given.
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The keys of one build in one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// The stream of calls (`cq:{ns}:{build}:tasks`), read by the group [`GROUP`].
    pub(crate) tasks: String,
    /// Live workers: a sorted set of consumer → the broker's time of its last heartbeat.
    pub(crate) workers: String,
    /// The lease in milliseconds, set by the executors, read by the workers.
    pub(crate) lease: String,
    /// The channel on which running calls are cancelled (their entry ids).
    pub(crate) cancel: String,
    /// `cq:{ns}:res:` — a submitter's result stream is this plus its id.
    pub(crate) results_prefix: String,
}

impl Keys {
    pub(crate) fn new(namespace: &str, build: &str) -> Keys {
        Keys {
            tasks: format!("cq:{namespace}:{build}:tasks"),
            workers: format!("cq:{namespace}:{build}:workers"),
            lease: format!("cq:{namespace}:{build}:lease"),
            cancel: format!("cq:{namespace}:{build}:cancel"),
            results_prefix: format!("cq:{namespace}:res:"),
        }
    }
}

/// A redis error as concurra's [`Error::Broker`], saying what was being done.
pub(crate) fn broker(context: &str, e: &redis::RedisError) -> Error {
    Error::Broker(format!("{context}: {e}"))
}

/// A connection, with a time limit on connecting and on every read and write (so that a
/// broker that stops answering is an error, not a hang).
pub(crate) fn connect(
    client: &redis::Client,
    io: Duration,
) -> redis::RedisResult<redis::Connection> {
    let con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    con.set_read_timeout(Some(io))?;
    con.set_write_timeout(Some(io))?;
    Ok(con)
}

/// Creates the stream and its group if missing (from the stream's start, so that calls
/// added before the first worker came are read).
pub(crate) fn ensure_group(con: &mut redis::Connection, keys: &Keys) -> redis::RedisResult<()> {
    let made: redis::RedisResult<Value> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&keys.tasks)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query(con);
    match made {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other.map(drop),
    }
}

/// The broker's version must have `XAUTOCLAIM` (6.2).
pub(crate) fn check_version(con: &mut redis::Connection) -> Result<(), Error> {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(con)
        .map_err(|e| broker("INFO server", &e))?;
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("0");
    let mut parts = version
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (6, 2) {
        return Err(Error::Broker(format!(
            "Redis {version} has no XAUTOCLAIM: concurra-redis needs Redis 6.2 or later"
        )));
    }
    Ok(())
}

/// A worker's answers, in one script: for each, unless another worker answered it first (its
/// entry is no longer pending: `XACK` says 0), the answer goes to the submitter's result
/// stream (which expires that many ms after its last write), and the entry is acknowledged
/// and deleted. A result never exists without its ack, nor an ack without its result.
///
/// `KEYS[1]` the calls stream; then per answer in `ARGV`: entry id, result stream, task id,
/// answer bytes, expiry in ms (an empty result stream: acknowledged and deleted only).
pub(crate) const COMPLETE: &str = r"
local written = 0
for i = 1, #ARGV, 5 do
  if redis.call('XACK', KEYS[1], 'workers', ARGV[i]) == 1 and ARGV[i + 1] ~= '' then
    redis.call('XADD', ARGV[i + 1], 'MAXLEN', '~', '1000000', '*', 't', ARGV[i + 2], 'o', ARGV[i + 3])
    redis.call('PEXPIRE', ARGV[i + 1], ARGV[i + 4])
    written = written + 1
  end
  redis.call('XDEL', KEYS[1], ARGV[i])
end
return written
";

/// A worker's heartbeat: records it as live (at the broker's time), renews the lease of
/// every call it holds (`XCLAIM … JUSTID` to itself: the idle time restarts, the delivery
/// count does not grow), forgets workers silent for ten leases, and returns the lease.
///
/// `KEYS` the calls stream, the workers set, the lease key; `ARGV` the consumer and the
/// default lease.
pub(crate) const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(redis.call('GET', KEYS[3]) or ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 10 * lease)
local mine = redis.call('XPENDING', KEYS[1], 'workers', '-', '+', 4000, ARGV[1])
if #mine > 0 then
  local ids = {}
  for i, e in ipairs(mine) do ids[i] = e[1] end
  ids[#ids + 1] = 'JUSTID'
  redis.call('XCLAIM', KEYS[1], 'workers', ARGV[1], 0, unpack(ids))
end
return lease
";

/// How many workers renewed their lease within the last `ARGV[1]` ms (the broker's clock).
pub(crate) const LIVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]), '+inf')
";

/// Withdraws calls: an entry no worker leased yet is deleted (it never runs: 0); a leased
/// one is announced on the cancel channel, whose worker stops it (1) — unless `ARGV[1]` is
/// `queued-only`, when it is left alone (2), or `drop`, when it is acknowledged and deleted
/// (its worker is gone: 1). An entry already gone gives 3.
///
/// `KEYS` the calls stream, the cancel channel; `ARGV[1]` the mode, then entry ids. Returns
/// one code per id.
pub(crate) const WITHDRAW: &str = r"
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], 'workers', id, id, 1)
  if #p == 0 then
    out[i - 1] = (redis.call('XDEL', KEYS[1], id) == 1) and 0 or 3
  elseif ARGV[1] == 'queued-only' then
    out[i - 1] = 2
  elseif ARGV[1] == 'drop' then
    redis.call('XACK', KEYS[1], 'workers', id)
    redis.call('XDEL', KEYS[1], id)
    out[i - 1] = 1
  else
    redis.call('PUBLISH', KEYS[2], id)
    out[i - 1] = 1
  end
end
return out
";

/// The bytes of a string reply.
pub(crate) fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A string reply as text.
pub(crate) fn text(v: &Value) -> Option<&str> {
    bytes(v).and_then(|b| std::str::from_utf8(b).ok())
}

/// The items of an array reply.
pub(crate) fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) | Value::Set(a) => a,
        _ => &[],
    }
}

/// An integer reply (or a number sent as a string).
pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => text(other).and_then(|s| s.parse().ok()),
    }
}

/// One stream entry: its id and its field/value pairs.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// The value of `field`.
    pub(crate) fn get(&self, field: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == field.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

/// The entries of `[id, [field, value, …]]` items (`XRANGE`, `XCLAIM`, one stream of `XREAD`).
pub(crate) fn entries(list: &Value) -> Vec<Entry> {
    items(list)
        .iter()
        .filter_map(|e| {
            let parts = items(e);
            let id = text(parts.first()?)?.to_string();
            let flat = parts.get(1).map(items).unwrap_or(&[]);
            let fields = flat
                .chunks_exact(2)
                .filter_map(|kv| Some((bytes(&kv[0])?.to_vec(), bytes(&kv[1])?.to_vec())))
                .collect();
            Some(Entry { id, fields })
        })
        .collect()
}

/// The entries of an `XREAD`/`XREADGROUP` reply on one stream (nil on timeout: none).
pub(crate) fn read_entries(reply: &Value) -> Vec<Entry> {
    match reply {
        Value::Map(streams) => streams.iter().flat_map(|(_, v)| entries(v)).collect(),
        other => items(other)
            .iter()
            .flat_map(|s| items(s).get(1).map(entries).unwrap_or_default())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_parameters_leave_the_url() {
        let t = Target::parse("redis://h:1/0?ns=jobs&protocol=resp2&processes=3");
        assert_eq!(t.url, "redis://h:1/0?protocol=resp2");
        assert_eq!(t.param("ns"), Some("jobs"));
        assert_eq!(t.param("processes"), Some("3"));
        assert_eq!(t.param("prefetch"), None);
        assert_eq!(
            Target::parse("redis+unix:///tmp/r.sock").url,
            "redis+unix:///tmp/r.sock"
        );
    }
}
