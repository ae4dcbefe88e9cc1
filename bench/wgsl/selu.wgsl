// selu(x) = scale * (x > 0 ? x : alpha * (exp(x) - 1)), one element per invocation.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const ALPHA: f32 = 1.6732632423543772;
const SCALE: f32 = 1.0507009873554805;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let wg_linear = wid.x + nwg.x * (wid.y + nwg.y * wid.z);
  let i = wg_linear * 256u + lid;
  if (i >= p.n) { return; }
  let v = x[i];
  y[i] = SCALE * select(ALPHA * (exp(min(v, 0.0)) - 1.0), v, v > 0.0);
}
