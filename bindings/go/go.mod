module github.com/peerwire/peerwire/bindings/go

go 1.21
