module gridpipe.local/stack/go/pkg-config

go 1.26.0

tool github.com/influxdata/pkg-config

require (
	github.com/BurntSushi/toml v0.3.1 // indirect
	github.com/Masterminds/semver v1.4.2 // indirect
	github.com/influxdata/pkg-config v0.2.14 // indirect
	github.com/spf13/pflag v1.0.3 // indirect
	go.uber.org/atomic v1.5.1 // indirect
	go.uber.org/multierr v1.4.0 // indirect
	go.uber.org/tools v0.0.0-20190618225709-2cfd321de3ee // indirect
	go.uber.org/zap v1.9.1 // indirect
	golang.org/x/lint v0.0.0-20190930215403-16217165b5de // indirect
	golang.org/x/tools v0.0.0-20191029190741-b9c20aec41a5 // indirect
	honnef.co/go/tools v0.0.1-2019.2.3 // indirect
)
