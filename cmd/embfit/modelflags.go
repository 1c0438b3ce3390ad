package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/embfit/embfit/onnx"
)

// modelFlags are the flags that choose how a model folder is used; the
// folder's own configuration files fill in what they leave unset.
func modelFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "file", Usage: "ONNX file inside the model folder, e.g. onnx/model_O4.onnx (default model.onnx, else onnx/model.onnx)"},
		&cli.StringFlag{Name: "prompt", Usage: "text prepended to every input text (overrides --prompt-name)"},
		&cli.StringFlag{Name: "prompt-name", Usage: "one of the model's prompts (config_sentence_transformers.json), e.g. query (default: its default_prompt_name)"},
		&cli.BoolFlag{Name: "no-normalize", Usage: "do not normalize even if the model folder has a Normalize module"},
		&cli.StringFlag{Name: "padding-side", Usage: "left | right (default: tokenizer_config.json's padding_side, else right)"},
	}
}

// encoderSettings reads the model-folder flags (and, when the command
// has them, --pooling, --normalize, --max-length, --batch-size, --output,
// --tokenizer, --threads) into EncoderSettings; flags left unset stay
// zero so that the model folder's settings apply.
func encoderSettings(c *cli.Context) onnx.EncoderSettings {
	s := onnx.EncoderSettings{
		File:        c.String("file"),
		Prompt:      c.String("prompt"),
		PromptName:  c.String("prompt-name"),
		NoNormalize: c.Bool("no-normalize"),
		PaddingSide: c.String("padding-side"),
		Output:      c.String("output"),
		Pooling:     onnx.Pooling(c.String("pooling")),
		Normalize:   c.Bool("normalize"),
		Tokenizer:   c.String("tokenizer"),
		Threads:     c.Int("threads"),
	}
	if c.IsSet("max-length") {
		s.MaxLength = c.Int("max-length")
	}
	if c.IsSet("batch-size") {
		s.BatchSize = c.Int("batch-size")
	}
	return s
}

// printPipeline prints a resolved pipeline, one setting a line with its
// source.
func printPipeline(w interface{ Write([]byte) (int, error) }, p onnx.Pipeline) {
	line := func(name, value, from string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-15s %-28s %s", name+":", value, from), " "))
	}
	fmt.Fprintln(w, "pipeline:")
	file := p.File
	if len(p.Variants) > 1 {
		file += " (of " + strings.Join(p.Variants, ", ") + ")"
	}
	line("file", file, "")
	if p.Input == "text" {
		line("input", "text", p.TokenizerFamily+" tokenizer "+p.Tokenizer)
		if p.PositionIDs {
			line("position ids", "from the attention mask", onnx.SourceModel)
		}
	} else {
		shape := "not fixed"
		if p.ItemShape != nil {
			shape = fmt.Sprint(p.ItemShape)
		}
		line("input", "tensor "+p.InputName, "item shape "+shape)
	}
	line("output", p.Output.Value, p.Output.From)
	line("pooling", string(p.Pooling.Value), p.Pooling.From)
	line("normalize", fmt.Sprint(p.Normalize.Value), p.Normalize.From)
	if p.Input == "text" {
		line("max length", fmt.Sprint(p.MaxLength.Value), p.MaxLength.From)
		line("lower case", fmt.Sprint(p.LowerCase.Value), p.LowerCase.From)
		line("padding side", p.PaddingSide.Value, p.PaddingSide.From)
		prompt := "none"
		if p.Prompt.Value != "" {
			prompt = fmt.Sprintf("%q", p.Prompt.Value)
			if p.PromptName != "" {
				prompt += " (" + p.PromptName + ")"
			}
			prompt += fmt.Sprintf(", %d tokens", p.PromptLength)
		}
		line("prompt", prompt, p.Prompt.From)
		if len(p.Prompts) > 0 {
			names := make([]string, 0, len(p.Prompts))
			for k := range p.Prompts {
				names = append(names, k)
			}
			sort.Strings(names)
			for i, k := range names {
				names[i] = fmt.Sprintf("%s=%q", k, p.Prompts[k])
			}
			line("prompts", strings.Join(names, " "), "")
		}
		line("include prompt", fmt.Sprint(p.IncludePrompt.Value), p.IncludePrompt.From)
	}
	line("similarity", p.Similarity.Value, p.Similarity.From)
	line("batch size", fmt.Sprint(p.BatchSize.Value), p.BatchSize.From)
	if p.Dim > 0 {
		line("dim", fmt.Sprint(p.Dim), onnx.SourceModel)
	}
}
