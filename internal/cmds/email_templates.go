package cmds

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mrci/mrci/internal/mail"
	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/password"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Mail templates (commands.md §5: set_email_template, preview_email).

const (
	maxTemplateUpload = 20000 // bytes of UTF-16LE text
	maxTemplateBody   = 10000 // characters (UTF-16 code units)
	maxTemplateSubj   = 120
)

func emailTemplateCommands() []*module.Command {
	return []*module.Command{
		{
			Def: module.Def{Name: "set_email_template", GenFile: 1,
				Summary: "set the subject and body of the verification or password-reset mail.",
				IO:      "[[-reset_template] or [-confirm_template] {-subject {(text)}} {[-body {(text)}] or [-client_file (text) -len (int)]}]/[text]",
				Long: "Changes the password-reset mail (-reset_template) or the verification mail (-confirm_template). " +
					"-subject and -body give the new texts; either switch without a value restores the built-in text. " +
					"With -client_file the body is uploaded from a UTF-16LE text file of -len bytes (at most 20,000). " +
					"A body must contain %date%, %user_name% and %temp_pw% (reset) or %confirmation_code% (verification), " +
					"and at most 10,000 characters; a subject at most 120 characters on one line."},
			In: userOnly, MaxArgs: 9, Accepts: []wire.TypeID{wire.TypeGenFile, wire.TypeText}, Run: runSetEmailTemplate,
		},
		{
			Def: def("preview_email", "show the verification or password-reset mail as it would be sent.",
				"[-reset_email] or [-confirm_email]/[text]",
				"Prints the subject and the body of the chosen mail with its placeholders filled in with your "+
					"user name, the current UTC date and a made-up password or code. Nothing is mailed."),
			In: userOnly, MaxArgs: 4, Run: runPreviewEmail,
		},
	}
}

func runSetEmailTemplate(ctx context.Context, c *module.Call) error {
	reset := c.Flag("-reset_template")
	if !reset && !c.Flag("-confirm_template") {
		return module.Fail("specify -reset_template or -confirm_template")
	}
	hasSubj, subj := c.Has("-subject"), c.Param("-subject")
	hasBody, body := c.Has("-body"), c.Param("-body")
	if c.Has("-client_file") {
		lenText := c.Param("-len")
		n, err := strconv.ParseInt(lenText, 10, 64)
		switch {
		case err != nil:
			return module.Fail("'%s' is not a valid integer", lenText)
		case n <= 0:
			return module.Fail("size cannot be zero or negative")
		case n > maxTemplateUpload:
			return module.Fail("file too large (max 20,000 bytes / 10,000 characters)")
		}
		if body, err = uploadText(ctx, c, int(n)); err != nil {
			return err
		}
		hasBody = true
	}
	if !hasBody && !hasSubj {
		return module.Fail("body and subject empty, nothing changed")
	}
	s, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	codePh := mail.PhCode
	curBody, curSubj := &s.VerifyEmailTemplate, &s.VerifyEmailSubject
	defBody, defSubj := store.DefaultVerifyEmailTemplate, store.DefaultVerifyEmailSubject
	if reset {
		codePh = mail.PhTempPw
		curBody, curSubj = &s.TempPwEmailTemplate, &s.TempPwEmailSubject
		defBody, defSubj = store.DefaultTempPwEmailTemplate, store.DefaultTempPwEmailSubject
	}
	changed := false
	if hasBody {
		if body == "" {
			body = defBody
		}
		if msg := checkTemplateBody(body, codePh); msg != "" {
			c.Err(msg)
		} else {
			*curBody, changed = body, true
			c.Text("email body updated\n")
		}
	}
	if hasSubj {
		if subj == "" {
			subj = defSubj
		}
		switch {
		case wire.TextLen(subj) > maxTemplateSubj:
			c.Err("subject too large")
		case store.ValidateHeaderText(subj) != nil:
			c.Err("the subject must be one line without control characters")
		default:
			*curSubj, changed = subj, true
			c.Text("email subject updated\n")
		}
	}
	if !changed {
		return nil
	}
	return c.Store().SaveSettings(ctx, s)
}

// checkTemplateBody returns the error text for an unusable body, or "".
func checkTemplateBody(body, codePh string) string {
	for _, ph := range []string{mail.PhDate, mail.PhUserName, codePh} {
		if !mail.HasPlaceholder(body, ph) {
			return "body lacks " + ph
		}
	}
	if wire.TextLen(body) > maxTemplateBody {
		return "body too large"
	}
	return ""
}

// uploadText receives n bytes of UTF-16LE text over GEN_FILE with the host
// as the receiver (types.md §5): host parameters "-to_host -len n", the
// ready signal, then data frames, each answered with a progress line (and,
// in single-step mode, another ready signal).
func uploadText(ctx context.Context, c *module.Call, n int) (string, error) {
	single := c.Flag("-single_step")
	c.Text("input hooked, awaiting text file data\n")
	params := fmt.Sprintf("-to_host -len %d", n)
	if single {
		params += " -single_step"
	}
	c.Send(wire.TypeGenFile, wire.EncodeText(params))
	c.Send(wire.TypeGenFile, nil)
	data := make([]byte, 0, n)
	for len(data) < n {
		t, p, err := c.NextFrame(ctx)
		if err != nil {
			return "", err
		}
		if t != wire.TypeGenFile || len(p) == 0 {
			continue
		}
		if len(data)+len(p) > n {
			return "", module.Fail("more data than -len announced; nothing changed")
		}
		data = append(data, p...)
		c.Text(fmt.Sprintf("%d/%d\n", len(data), n))
		if single && len(data) < n {
			c.Send(wire.TypeGenFile, nil)
		}
	}
	c.Text("upload complete\n")
	if len(data)%2 != 0 {
		return "", module.Fail("the upload is not UTF-16LE text (odd length); nothing changed")
	}
	return wire.DecodeText(data), nil
}

func runPreviewEmail(ctx context.Context, c *module.Call) error {
	reset := c.Flag("-reset_email")
	if !reset && !c.Flag("-confirm_email") {
		return module.Fail("specify -reset_email or -confirm_email")
	}
	s, err := c.Host().Settings(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if m, ok := c.Host().(mailHost); ok {
		now = m.EmailNow()
	}
	vars := mail.Vars{Date: now, UserName: c.Session().UserName}
	subj, body := s.VerifyEmailSubject, s.VerifyEmailTemplate
	if reset {
		subj, body = s.TempPwEmailSubject, s.TempPwEmailTemplate
		vars.TempPw, err = password.Generate()
	} else {
		vars.Code, err = newCode()
	}
	if err != nil {
		return err
	}
	c.Text("-----Subject-------\n\n" + mail.HeaderSafe(subj) + "\n\n-----Body----------\n\n")
	c.BigText(mail.Render(body, vars))
	return nil
}
