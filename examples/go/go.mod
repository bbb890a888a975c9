module github.com/peerwire/peerwire/examples/go

go 1.21

require github.com/peerwire/peerwire/bindings/go v0.0.0

replace github.com/peerwire/peerwire/bindings/go => ../../bindings/go
