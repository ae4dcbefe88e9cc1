// C = A @ B (row-major f32, any m, n, k): a 16x16 workgroup computes a 16x16 tile of C, staging 16x16 tiles
// of A and B in workgroup memory (two barriers per step of 16 along k).
struct Params { m: u32, n: u32, k: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> a_tile: array<array<f32, 16>, 16>;
var<workgroup> b_tile: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row = wid.y * 16u + lid.y;
  let col = wid.x * 16u + lid.x;
  var acc = 0.0;
  for (var t = 0u; t < p.k; t += 16u) {
    let ak = t + lid.x;
    let bk = t + lid.y;
    a_tile[lid.y][lid.x] = select(0.0, a[min(row * p.k + ak, p.m * p.k - 1u)], row < p.m && ak < p.k);
    b_tile[lid.y][lid.x] = select(0.0, b[min(bk * p.n + col, p.k * p.n - 1u)], bk < p.k && col < p.n);
    workgroupBarrier();
    for (var i = 0u; i < 16u; i++) {
      acc += a_tile[lid.y][i] * b_tile[i][lid.x];
    }
    workgroupBarrier();
  }
  if (row < p.m && col < p.n) { c[row * p.n + col] = acc; }
}
