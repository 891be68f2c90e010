# Sourced by the benchmark scripts: builds the release binary ($bin) and makes the `trailhose gen`
# archive of $events events in $dir once (seed 1, with GeoIP fixtures, preset $PRESET: the
# realistic trail by default), so every benchmark reads the same data. BIN=path measures another
# build (a baseline) on the same data.
preset=${PRESET:-realistic}
cargo build --release --quiet
bin=${BIN:-target/release/trailhose}
if [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir"
  "$bin" gen --events "$events" --out "$dir" --seed 1 --geoip-fixtures --preset "$preset"
  touch "$dir/.complete"
fi
