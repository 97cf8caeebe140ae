package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/apphost/terraform-provider-apphost/internal/backend"
)

// accKey is an apphost_api_key_account block; extra is added verbatim.
func accKey(label, name, extra string) string {
	return fmt.Sprintf(`
resource "apphost_api_key_account" %[1]q {
  name = %[2]q
  %[3]s
}
`, label, name, extra)
}

// accAppBound is an apphost_app block with its app secret bound to the key
// account key and no value: the recommended way.
func accAppBound(label, key string) string { return accAppAndSecret(label, key, "") }

// accAppWithSecret is an apphost_app block with its app secret bound to the
// key account key, its value from the key's secret: the first design's way.
func accAppWithSecret(label, key string) string {
	return accAppAndSecret(label, key, "value = apphost_api_key_account."+key+".secret")
}

// accAppAndSecret is an apphost_app block and its app secret bound to the key
// account key; extra is added verbatim to the app secret.
func accAppAndSecret(label, key, extra string) string {
	return fmt.Sprintf(`
resource "apphost_app" %[1]q {
  name = %[1]q
}

resource "apphost_app_secret" %[1]q {
  app_id             = apphost_app.%[1]s.id
  name               = apphost_api_key_account.%[2]s.name
  api_key_account_id = apphost_api_key_account.%[2]s.id
  %[3]s
}
`, label, key, extra)
}

func triggers(v string) string { return fmt.Sprintf("rotation_triggers = { r = %q }", v) }

var (
	keyA    = "apphost_api_key_account.a"
	secrets = tfjsonpath.New("secret")
	version = tfjsonpath.New("secret_version")
)

// TestAccAPIKeyAccount_rotationOrder: a trigger change of key A undeploys
// A's apps, regenerates A, stores the new secret and deploys them again,
// without a failed login, and leaves key B and its app alone. The destroy
// removes the app secrets before the key.
func TestAccAPIKeyAccount_rotationOrder(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	resource.UnitTest(t, rotationOrderCase(e, e.provider()))
}

// rotationOrderCase is the rotation of a key used by two apps, with another
// key's app left alone, on e's backend with the provider block provider
// (embedded here, a server in TestAccRemote_rotationOrder): the order from the audit log, the id kept,
// an empty plan after, and app secrets deleted before their key on destroy.
func rotationOrderCase(e *accEnv, provider string) resource.TestCase {
	config := func(trigger string) string { return rotationConfig(provider, trigger) }
	sameID := statecheck.CompareValue(compare.ValuesSame())
	var seq, destroySeq int64

	return resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		CheckDestroy: func(*terraform.State) error {
			ctx := context.Background()
			for _, n := range []string{"key-a", "key-b"} {
				if _, err := e.b.GetAccountByName(ctx, n); !backend.IsNotFound(err) {
					return fmt.Errorf("account %s still exists (%v)", n, err)
				}
			}
			for _, n := range []string{"a1", "a2", "b1"} {
				if _, err := e.b.GetAppByName(ctx, n); !backend.IsNotFound(err) {
					return fmt.Errorf("app %s still exists (%v)", n, err)
				}
			}
			ev, err := e.events(destroySeq)
			if err != nil {
				return err
			}
			del := find(ev, 0, action(backend.ActionAccountDelete, "key-a"))
			secDel := find(ev, 0, action(backend.ActionAppSecretDelete, "a1/key-a"))
			if del < 0 || secDel < 0 || secDel > del {
				return fmt.Errorf("want app_secret.delete before api_key_account.delete:\n%s", auditLog(ev))
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: config("1"),
				ConfigStateChecks: []statecheck.StateCheck{
					sameID.AddStateValue(keyA, tfjsonpath.New("id")),
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(keyA, tfjsonpath.New("locked"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue("apphost_app.a1", tfjsonpath.New("status"), knownvalue.StringExact("running")),
					statecheck.ExpectKnownValue(keyA, secrets, knownvalue.Null()),
					noSecret{},
				},
			},
			{
				PreConfig: e.mark(&seq),
				Config:    config("2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionNoop),
						plancheck.ExpectResourceAction("apphost_app_secret.a2", plancheck.ResourceActionNoop),
						plancheck.ExpectResourceAction("apphost_app_secret.b1", plancheck.ResourceActionNoop),
						plancheck.ExpectResourceAction("apphost_api_key_account.b", plancheck.ResourceActionNoop),
						plancheck.ExpectKnownValue(keyA, secrets, knownvalue.Null()),
						plancheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
						noSecret{},
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					sameID.AddStateValue(keyA, tfjsonpath.New("id")),
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue("apphost_api_key_account.b", version, knownvalue.Int64Exact(1)),
					noSecret{},
					e.checkRotationOrder(&seq, "key-a", "key-a", "a1", "a2"),
					e.checkUntouched(&seq, "key-b", "b1"),
					e.checkAccount("key-a", func(a *backend.Account) error {
						if a.SecretVersion != 2 || a.Locked || a.FailedLoginAttempts != 0 {
							return fmt.Errorf("key-a: %+v", a)
						}
						return nil
					}),
					e.checkAppRunning("a1"),
					e.checkAppRunning("a2"),
				},
			},
			{
				// The destroy step of the test case runs after this mark.
				PreConfig: e.mark(&destroySeq),
				Config:    config("2"),
				PlanOnly:  true,
			},
		},
	}
}

// TestAccAPIKeyAccount_descriptionTouchesNoSecret: editing the description
// or the name updates the key in place and no app secret.
func TestAccAPIKeyAccount_descriptionTouchesNoSecret(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	config := func(name, desc string) string {
		return e.provider() + accKey("a", name, fmt.Sprintf("description = %q", desc)) + accAppWithSecret("a1", "a")
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{Config: config("key-a", "one")},
			{
				Config: config("key-a", "two"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionNoop),
						plancheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(1)),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, tfjsonpath.New("description"), knownvalue.StringExact("two")),
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(1)),
				},
			},
		},
	})
}

// deleteApp deletes an app (and its secrets) outside Terraform.
func (e *accEnv) deleteApp(name string) {
	e.t.Helper()
	ctx := context.Background()
	a, err := e.b.GetAppByName(ctx, name)
	if err == nil {
		err = e.b.DeleteApp(ctx, a.ID)
	}
	if err != nil {
		e.t.Fatalf("deleting app %s: %v", name, err)
	}
}

// lockOutOfBand logs in with a wrong secret until the account is locked.
func (e *accEnv) lockOutOfBand(name string) func() {
	return func() {
		ctx := context.Background()
		a, err := e.b.GetAccountByName(ctx, name)
		if err != nil {
			e.t.Fatalf("reading %s: %v", name, err)
		}
		for i := 0; i < backend.DefaultLockoutThreshold; i++ {
			_ = e.b.Login(ctx, backend.LoginRequest{AccountID: a.ID, Secret: "wrong"})
		}
		if a, err = e.b.GetAccount(ctx, a.ID); err != nil || !a.Locked {
			e.t.Fatalf("%s is not locked: %+v %v", name, a, err)
		}
	}
}

// TestAccAPIKeyAccount_lockHeals: a lock made outside Terraform shows in the
// plan as a regeneration, and the apply unlocks the account in the safe
// order; with rotate_when_locked = false the plan does not regenerate; a
// regeneration outside Terraform is healed by a regeneration too.
func TestAccAPIKeyAccount_lockHeals(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	config := func(extra string) string {
		return e.provider() + accKey("a", "key-a", extra) + accAppWithSecret("a1", "a")
	}
	var seq int64
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{Config: config("")},
			{
				PreConfig: func() { e.mark(&seq)(); e.lockOutOfBand("key-a")() },
				Config:    config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(keyA, tfjsonpath.New("locked"), knownvalue.Bool(false)),
						plancheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionUpdate),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					backendCheck(func() error {
						// Skip the logins of the lock itself.
						ev, err := e.events(seq)
						if err != nil {
							return err
						}
						lock := find(ev, 0, func(x backend.AuditEvent) bool { return x.Action == backend.ActionAccountLock })
						if lock < 0 {
							return fmt.Errorf("no lock:\n%s", auditLog(ev))
						}
						after := ev[lock].Seq
						return e.checkRotationOrder(&after, "key-a", "key-a", "a1")()
					}),
					e.checkAccount("key-a", func(a *backend.Account) error {
						if a.Locked || a.FailedLoginAttempts != 0 || a.SecretVersion != 2 {
							return fmt.Errorf("key-a not healed: %+v", a)
						}
						return nil
					}),
				},
			},
			{
				PreConfig: e.lockOutOfBand("key-a"),
				Config:    config("rotate_when_locked = false"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(keyA, tfjsonpath.New("locked"), knownvalue.Bool(true)),
						plancheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionNoop),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkAccount("key-a", func(a *backend.Account) error {
						if !a.Locked || a.SecretVersion != 2 {
							return fmt.Errorf("key-a should stay locked at version 2: %+v", a)
						}
						return nil
					}),
				},
			},
			{
				// Regenerated outside Terraform: the secret in state is stale
				// (and app a1, logging in with it, locks the account again).
				// That alone is a reason to regenerate, even with
				// rotate_when_locked = false.
				PreConfig: func() {
					ctx := context.Background()
					a, err := e.b.GetAccountByName(ctx, "key-a")
					if err == nil {
						_, err = e.b.RegenerateSecret(ctx, backend.RegenerateRequest{ID: a.ID})
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: config("rotate_when_locked = false"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(4)),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionUpdate),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkAccount("key-a", func(a *backend.Account) error {
						if a.Locked || a.SecretVersion != 4 {
							return fmt.Errorf("key-a should be unlocked at version 4: %+v", a)
						}
						return nil
					}),
					e.checkAppRunning("a1"),
				},
			},
		},
	})
}

// TestAccAPIKeyAccount_outsideAppRotated: an app bound to the key that this
// configuration does not manage is rotated with the key, in the same
// transaction, and never locks it; the plan's warning names it.
func TestAccAPIKeyAccount_outsideAppRotated(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	config := func(trigger string) string {
		return e.provider() + accKey("a", "key-a", triggers(trigger)) + accAppBound("a1", "a")
	}
	var seq int64
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{Config: config("1")},
			{
				PreConfig: func() {
					ctx := context.Background()
					a, err := e.b.GetAccountByName(ctx, "key-a")
					if err != nil {
						t.Fatal(err)
					}
					app, err := e.b.CreateApp(ctx, backend.CreateAppRequest{Name: "outside", Deployed: true})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := e.b.PutAppSecret(ctx, backend.PutAppSecretRequest{AppID: app.ID, Name: "key-a", AccountID: a.ID}); err != nil {
						t.Fatal(err)
					}
					e.mark(&seq)()
				},
				Config: config("2"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
					e.checkRotationOrder(&seq, "key-a", "key-a", "a1", "outside"),
					e.checkAppRunning("a1"),
					e.checkAppRunning("outside"),
				},
			},
			{
				// Destroy is refused while the outside app's secret is bound.
				Config:      e.provider(),
				ExpectError: regexp.MustCompile(`(?s)API key account is still in use.*"outside"`),
			},
			{
				PreConfig: func() { e.deleteApp("outside") },
				Config:    e.provider(),
			},
		},
	})
}

// TestAccAPIKeyAccount_period: once the secret is older than
// rotation_period at a refresh, the plan regenerates it. The provider's
// clock is moved past the period for the step's refresh and back before the
// refresh after the rotation, so no test sleeps.
func TestAccAPIKeyAccount_period(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	config := func(period string) string {
		return e.provider() + accKey("a", "key-a", fmt.Sprintf("rotation_period = %q", period)) + accAppWithSecret("a1", "a")
	}
	clock := &testClock{}
	var seq int64
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: providersWithClock(clock.Now),
		Steps: []resource.TestStep{
			{Config: config("720h")},
			{
				// The same period, read at a refresh 31 days later.
				PreConfig: func() { e.mark(&seq)(); clock.set(31 * 24 * time.Hour) },
				Config:    config("720h"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(2)),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionUpdate),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					e.checkRotationOrder(&seq, "key-a", "key-a", "a1"),
					// Back to now: the refresh after the apply finds a fresh secret.
					afterApply(func() { clock.set(0) }),
				},
			},
		},
	})
}

// TestAccAPIKeyAccount_import imports by ID, by name and with an import block.
func TestAccAPIKeyAccount_import(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	config := e.provider() + accKey("a", "key-a", `description = "d"`)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{Config: config},
			{
				ResourceName:            keyA,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"secret"},
			},
			{
				ResourceName:            keyA,
				ImportState:             true,
				ImportStateId:           "key-a",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"secret"},
			},
			{
				ResourceName:    keyA,
				ImportState:     true,
				ImportStateKind: resource.ImportBlockWithID,
			},
		},
	})
}

// TestAccAPIKeyAccount_driftDeleted: an account deleted outside Terraform is
// created again.
func TestAccAPIKeyAccount_driftDeleted(t *testing.T) {
	t.Parallel()
	e := newAccEnv(t)
	config := e.provider() + accKey("a", "key-a", "") + accAppWithSecret("a1", "a")
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProviders,
		Steps: []resource.TestStep{
			{Config: config},
			{
				PreConfig: func() {
					ctx := context.Background()
					a, err := e.b.GetAccountByName(ctx, "key-a")
					if err != nil {
						t.Fatal(err)
					}
					app, err := e.b.GetAppByName(ctx, "a1")
					if err != nil {
						t.Fatal(err)
					}
					// The backend refuses to delete a key with bound secrets.
					if err := e.b.DeleteAppSecret(ctx, backend.DeleteAppSecretRequest{AppID: app.ID, Name: "key-a"}); err != nil {
						t.Fatal(err)
					}
					if err := e.b.DeleteAccount(ctx, backend.DeleteAccountRequest{ID: a.ID}); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(keyA, plancheck.ResourceActionCreate),
						plancheck.ExpectResourceAction("apphost_app_secret.a1", plancheck.ResourceActionCreate),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(keyA, version, knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue("apphost_app.a1", tfjsonpath.New("status"), knownvalue.StringExact("running")),
				},
			},
		},
	})
}

// TestAccAPIKeyAccount_savedPlanAfterAnotherRotation: a saved plan whose
// rotation was overtaken by another one (outside Terraform) fails at apply
// with an error that says to plan again, and changes nothing; the next plan
// and apply converge.
func TestAccAPIKeyAccount_savedPlanAfterAnotherRotation(t *testing.T) {
	requireAcc(t)
	t.Parallel()
	e := newAccEnv(t)
	w := newTFWorkdir(t)
	provider := `
terraform {
  required_providers {
    apphost = { source = "apphost/apphost" }
  }
}
` + e.provider()
	w.write(rotationConfig(provider, "1"))
	w.run(nil, []string{"apply", "-auto-approve"})
	// The saved plan also changes the description: a refused rotation must
	// leave that undone too.
	w.write(strings.Replace(rotationConfig(provider, "2"), `name = "key-a"`, `name = "key-a"
  description = "changed with the rotation"`, 1))
	w.run(nil, []string{"plan", "-out", "tfplan"})

	ctx := context.Background()
	a, err := e.b.GetAccountByName(ctx, "key-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.RegenerateSecret(ctx, backend.RegenerateRequest{ID: a.ID}); err != nil {
		t.Fatal(err)
	}
	seq := e.lastSeq()
	r := w.result(nil, "apply", "tfplan")
	out := r.Output()
	if r.Code == 0 {
		t.Fatalf("the saved plan applied after another rotation:\n%s", out)
	}
	text := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"API key account was rotated since the plan was made", "Plan (or apply) again", "no longer 1", "Nothing was changed"} {
		if !strings.Contains(text, want) {
			t.Errorf("the apply's error does not say %q:\n%s", want, out)
		}
	}
	if n := strings.Count(text, "Nothing was changed"); n != 1 {
		t.Errorf("the apply's error says \"Nothing was changed\" %d times, want once:\n%s", n, out)
	}
	noCLIName(t, out)
	if ev, err := e.events(seq); err != nil || len(ev) != 0 {
		t.Errorf("the refused apply changed the backend (%v):\n%s", err, auditLog(ev))
	}
	w.run(nil, []string{"apply", "-auto-approve"})
	if got, err := e.b.GetAccount(ctx, a.ID); err != nil || got.SecretVersion != 3 || got.Locked {
		t.Errorf("after the next apply: %+v %v, want secret_version 3", got, err)
	}
	w.run(nil, []string{"plan", "-detailed-exitcode"})
}
