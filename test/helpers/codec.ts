// The payload codec of a test run: one key for the whole run (global-setup.ts sets CULVERT_PAYLOAD_KEY
// before any test process or child worker starts), so every worker, API and replay reads every history.
import { CulvertPayloadCodec, parsePayloadKey } from '../../cli/payload-codec.ts';

export function testCodec(): CulvertPayloadCodec {
  const key = process.env.CULVERT_PAYLOAD_KEY;
  if (!key) throw new Error('CULVERT_PAYLOAD_KEY is not set: the global setup sets it for the test run');
  return new CulvertPayloadCodec(parsePayloadKey(key));
}
