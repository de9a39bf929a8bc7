// deploycheck validates faasmeter's compose file and Dockerfile with the libraries Docker itself
// uses, so both are checked on machines without a Docker engine or the compose plugin:
//
//	deploycheck compose deploy/compose/docker-compose.yml
//	deploycheck dockerfile Dockerfile
//
// compose: compose-go (the loader behind `docker compose config`) loads the file with its JSON
// schema, interpolation, merge keys, extends and cross-references (depends_on, network_mode,
// volumes), then normalises it as `config` would. Bind-mounted host paths must exist.
//
// dockerfile: BuildKit's parser and instruction parser with its linter (the rules behind
// `docker build --check`); warnings are errors. Every COPY/ADD source from the build context
// must exist and must not be excluded by .dockerignore, which is read with the same pattern
// matcher BuildKit uses.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: deploycheck compose FILE | deploycheck dockerfile FILE")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "compose":
		err = checkCompose(os.Args[2])
	case "dockerfile":
		err = checkDockerfile(os.Args[2])
	default:
		err = fmt.Errorf("unknown check %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func checkCompose(file string) error {
	// Only the variables the file itself defaults: the result must not depend on this shell.
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithWorkingDirectory(filepath.Dir(file)), cli.WithInterpolation(true), cli.WithResolvedPaths(true))
	if err != nil {
		return err
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var problems []string
	for _, name := range project.ServiceNames() {
		svc := project.Services[name]
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					problems = append(problems, fmt.Sprintf("service %s: bind mount source %s does not exist", name, v.Source))
				}
			}
		}
		if svc.Build != nil {
			dockerfile := filepath.Join(svc.Build.Context, svc.Build.Dockerfile)
			if _, err := os.Stat(dockerfile); err != nil {
				problems = append(problems, fmt.Sprintf("service %s: build file %s does not exist", name, dockerfile))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s:\n  %s", file, strings.Join(problems, "\n  "))
	}
	fmt.Printf("%s: project %q, %d services, %d volumes\n", file, project.Name, len(project.Services), len(project.Volumes))
	return nil
}

func checkDockerfile(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var problems []string
	for _, w := range ast.Warnings {
		problems = append(problems, fmt.Sprintf("%s:%d: %s", file, w.Location.Start.Line, w.Short))
	}
	lint := linter.New(&linter.Config{
		Warn: func(rule, _, url, msg string, location []parser.Range) {
			line := 0
			if len(location) > 0 {
				line = location[0].Start.Line
			}
			problems = append(problems, fmt.Sprintf("%s:%d: %s: %s (%s)", file, line, rule, msg, url))
		},
	})
	stages, _, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	contextDir := filepath.Dir(file)
	matcher, err := dockerignore(contextDir)
	if err != nil {
		return err
	}
	copies := 0
	for _, stage := range stages {
		for _, cmd := range stage.Commands {
			var sources []string
			switch c := cmd.(type) {
			case *instructions.CopyCommand:
				if c.From != "" {
					continue
				}
				sources = c.SourcePaths
			case *instructions.AddCommand:
				sources = c.SourcePaths
			default:
				continue
			}
			for _, src := range sources {
				copies++
				rel := filepath.Clean(strings.TrimPrefix(src, "/"))
				if _, err := os.Stat(filepath.Join(contextDir, rel)); err != nil {
					problems = append(problems, fmt.Sprintf("%s: stage %s copies %s, which does not exist", file, stage.Name, src))
					continue
				}
				if matcher != nil {
					if ignored, _ := matcher.MatchesOrParentMatches(rel); ignored {
						problems = append(problems, fmt.Sprintf("%s: stage %s copies %s, which .dockerignore excludes from the build context", file, stage.Name, src))
					}
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	fmt.Printf("%s: %d stages, %d context sources, no lint warnings\n", file, len(stages), copies)
	return nil
}

func dockerignore(dir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return patternmatcher.New(patterns)
}
