// dynalite (an independent DynamoDB on LevelDB) with the two TTL calls it lacks answered here.
//
//   node dynalite.js PORT NODE_MODULES
//
// dynalite has no UpdateTimeToLive and answers DescribeTimeToLive with DISABLED; the replicator
// enables TTL on each table it creates and checks it on tables that exist. Both calls go through
// dynalite's own DescribeTimeToLive (so an unknown table gets its ResourceNotFoundException) and
// the answer is the setting recorded here, in memory like the tables. Items are never expired:
// like moto, the emulator keeps what TTL would delete, which readers already treat as gone.
'use strict'
const path = require('path')
const dynalite = require(path.join(process.argv[3], 'dynalite'))

const PREFIX = 'DynamoDB_20120810.'
const ttl = new Map() // table name -> {AttributeName, Enabled}

const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
const [dynamo] = server.listeners('request')
server.removeAllListeners('request')
server.on('request', (req, res) => {
  const target = req.headers['x-amz-target'] || ''
  const operation = target.startsWith(PREFIX) ? target.slice(PREFIX.length) : ''
  if (operation === 'UpdateTimeToLive' || operation === 'DescribeTimeToLive') {
    answerTtl(operation, req, res)
  } else if (operation === 'DeleteTable') {
    bodyOf(req, (body) => ttl.delete(body.TableName))
  }
  dynamo(req, res)
})

function answerTtl (operation, req, res) {
  let request = {}
  bodyOf(req, (body) => { request = body })
  req.headers['x-amz-target'] = PREFIX + 'DescribeTimeToLive'
  const end = res.end.bind(res)
  res.end = (text) => {
    if (res.statusCode !== 200) return end(text)
    const reply = operation === 'UpdateTimeToLive' ? update(request) : describe(request)
    const body = JSON.stringify(reply.body)
    res.statusCode = reply.status
    res.removeHeader('x-amz-crc32')
    res.setHeader('Content-Length', Buffer.byteLength(body))
    return end(body)
  }
}

function update (request) {
  const spec = request.TimeToLiveSpecification || {}
  const current = ttl.get(request.TableName)
  if (current && current.Enabled === Boolean(spec.Enabled)) {
    const state = spec.Enabled ? 'enabled' : 'disabled'
    return invalid(`TimeToLive is already ${state}`)
  }
  if (typeof spec.AttributeName !== 'string' || !spec.AttributeName) {
    return invalid('TimeToLiveSpecification needs an AttributeName')
  }
  ttl.set(request.TableName, { AttributeName: spec.AttributeName, Enabled: Boolean(spec.Enabled) })
  return { status: 200, body: { TimeToLiveSpecification: spec } }
}

function describe (request) {
  const spec = ttl.get(request.TableName)
  if (!spec || !spec.Enabled) return { status: 200, body: { TimeToLiveDescription: { TimeToLiveStatus: 'DISABLED' } } }
  const description = { TimeToLiveStatus: 'ENABLED', AttributeName: spec.AttributeName }
  return { status: 200, body: { TimeToLiveDescription: description } }
}

function invalid (message) {
  return { status: 400, body: { __type: 'com.amazon.coral.validate#ValidationException', message } }
}

function bodyOf (req, use) {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    try {
      use(JSON.parse(Buffer.concat(chunks).toString() || '{}'))
    } catch {
      // dynalite answers a body that is not JSON itself
    }
  })
}

server.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'))
