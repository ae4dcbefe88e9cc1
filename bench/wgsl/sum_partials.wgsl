// First pass of sum(x + y*z) (n a multiple of 4): each workgroup reduces a grid-strided share of the
// elements, read as vec4, to one partial sum (a tree in workgroup memory at the end).
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> z: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> scratch: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let stride = nwg.x * 256u;
  let n4 = p.n / 4u;
  var acc = vec4<f32>(0.0);
  for (var i = wid.x * 256u + lid; i < n4; i += stride) {
    acc += x[i] + y[i] * z[i];
  }
  scratch[lid] = acc.x + acc.y + acc.z + acc.w;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { scratch[lid] += scratch[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[wid.x] = scratch[0]; }
}
