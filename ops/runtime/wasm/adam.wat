;; One Adam step over float32 arrays in this module's memory, 4 lanes at a
;; time (WASM SIMD), as PyTorch's torch.optim.Adam:
;;   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
;;   p = p - stepSize * m / (sqrt(v) * invBc2 + eps)
;; Arguments are byte offsets into memory (16-byte aligned) and the element
;; count n (a multiple of 4; callers pad).
(module
  (import "env" "memory" (memory 1))
  (func (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $b1 f32) (param $omb1 f32) (param $b2 f32) (param $omb2 f32)
    (param $stepSize f32) (param $invBc2 f32) (param $eps f32)
    (local $i i32) (local $end i32)
    (local $vb1 v128) (local $vomb1 v128) (local $vb2 v128) (local $vomb2 v128)
    (local $vstep v128) (local $vinv v128) (local $veps v128)
    (local $gi v128) (local $mi v128) (local $vi v128)
    (local.set $vb1 (f32x4.splat (local.get $b1)))
    (local.set $vomb1 (f32x4.splat (local.get $omb1)))
    (local.set $vb2 (f32x4.splat (local.get $b2)))
    (local.set $vomb2 (f32x4.splat (local.get $omb2)))
    (local.set $vstep (f32x4.splat (local.get $stepSize)))
    (local.set $vinv (f32x4.splat (local.get $invBc2)))
    (local.set $veps (f32x4.splat (local.get $eps)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $gi (v128.load (i32.add (local.get $g) (local.get $i))))
        (local.set $mi
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $i))) (local.get $vb1))
            (f32x4.mul (local.get $gi) (local.get $vomb1))))
        (local.set $vi
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $i))) (local.get $vb2))
            (f32x4.mul (f32x4.mul (local.get $gi) (local.get $gi)) (local.get $vomb2))))
        (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mi))
        (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vi))
        (v128.store (i32.add (local.get $p) (local.get $i))
          (f32x4.sub
            (v128.load (i32.add (local.get $p) (local.get $i)))
            (f32x4.mul
              (local.get $vstep)
              (f32x4.div
                (local.get $mi)
                (f32x4.add (f32x4.mul (f32x4.sqrt (local.get $vi)) (local.get $vinv)) (local.get $veps))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next)))))
