// C = A @ B (row-major f32; m, n, k multiples of 4): each invocation computes a 4x4 block of C from vec4
// loads of A's rows and B's rows, accumulating in registers; no workgroup memory, no barriers.
struct Params { m: u32, n: u32, k: u32 }

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;  // m rows of k/4 vec4
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;  // k rows of n/4 vec4
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;  // m rows of n/4 vec4
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n4 = p.n / 4u;
  let k4 = p.k / 4u;
  let col = gid.x;
  let row = gid.y * 4u;
  if (col >= n4 || row >= p.m) { return; }
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var kk = 0u; kk < k4; kk++) {
    let a0 = a[row * k4 + kk];
    let a1 = a[(row + 1u) * k4 + kk];
    let a2 = a[(row + 2u) * k4 + kk];
    let a3 = a[(row + 3u) * k4 + kk];
    let b0 = b[(kk * 4u) * n4 + col];
    let b1 = b[(kk * 4u + 1u) * n4 + col];
    let b2 = b[(kk * 4u + 2u) * n4 + col];
    let b3 = b[(kk * 4u + 3u) * n4 + col];
    c0 += a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
    c1 += a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
    c2 += a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
    c3 += a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
  }
  c[row * n4 + col] = c0;
  c[(row + 1u) * n4 + col] = c1;
  c[(row + 2u) * n4 + col] = c2;
  c[(row + 3u) * n4 + col] = c3;
}
